"""Speed of a segment-isolated model scored two ways: labels and texts encoded apart vs joint rows.

    python -m benchmarks.label_split_speed [--model @default] [--labels 64] [--texts 128]

With every layer segment-isolated, the pipeline encodes each distinct label once per call and
each text once; the joint rows (`[CLS] <<LABEL>>l1 ... <<SEP>> text`) give the same scores at a
cost that grows with the number of labels. Texts from ag_news, labels from banking77 (eval sets).
Prints texts/s of both (best of `--repeats`, interleaved) and the largest score difference.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

import gliclass
from gliclass.model import GLiClassUniEncoder

from .loading import default_eval_dir
from .systems import resolve_model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="@default", help="a fully segment-isolated GLiClass model (default: the shipped one)")
    parser.add_argument("--labels", type=int, default=64)
    parser.add_argument("--texts", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    eval_dir = default_eval_dir()
    texts = [json.loads(line)["text"] for line in (eval_dir / "ag_news" / "test.jsonl").open()][: args.texts]
    labels = json.loads((eval_dir / "banking77" / "meta.json").read_text())["labels"][: args.labels]
    classifier = gliclass.pipeline(model=resolve_model(args.model), device="cpu")
    if not classifier.model.model.labels_are_independent():
        raise SystemExit("this model's labels are not encoded apart (not every layer is segment-isolated).")
    def timed() -> tuple[float, list]:
        started = time.perf_counter()
        results = classifier(texts, candidate_labels=labels)
        return len(texts) / (time.perf_counter() - started), results

    timed()  # warm-up
    split_speeds, joint_speeds = [], []
    original = GLiClassUniEncoder.labels_are_independent
    for _ in range(args.repeats):
        speed, split_results = timed()
        split_speeds.append(speed)
        GLiClassUniEncoder.labels_are_independent = _joint_rows
        try:
            speed, joint_results = timed()
        finally:
            GLiClassUniEncoder.labels_are_independent = original
        joint_speeds.append(speed)
    difference = max(
        abs(score - dict(zip(joint["labels"], joint["scores"]))[label])
        for split, joint in zip(split_results, joint_results)
        for label, score in zip(split["labels"], split["scores"])
    )
    print(f"{args.labels} labels, {len(texts)} texts, {args.threads} threads: labels apart {max(split_speeds):.1f} texts/s, "
          f"joint rows {max(joint_speeds):.1f} texts/s ({max(split_speeds) / max(joint_speeds):.1f}x), "
          f"max |score difference| {difference:.1e}")


def _joint_rows(self: GLiClassUniEncoder) -> bool:
    """Stand-in for `labels_are_independent` that sends the pipeline down the joint-row path."""
    return False


if __name__ == "__main__":
    main()
