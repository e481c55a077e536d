"""Speed of a segment-isolated model scored two ways: labels and texts encoded apart vs joint rows.

    python -m benchmarks.label_split_speed [--model @default] [--labels 64] [--texts 128]

With every layer segment-isolated, the pipeline encodes each distinct label once per call and
each text once; the joint rows (`encode_labels_apart=False`: `[CLS] <<LABEL>>l1 ... <<SEP>> text`)
give the same scores for texts that fit beside the labels, at a cost that grows with the number of
labels. Texts from ag_news, labels from banking77 (eval sets).
Prints texts/s of both (best of `--repeats`, interleaved) and the largest score difference.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import torch

import gliclass
from gliclass.cli import run_command
from gliclass.data import load_set

from .arguments import positive_int
from .loading import default_eval_dir
from .systems import resolve_model

PROG = "python -m benchmarks.label_split_speed"
TEXT_SET, LABEL_SET = "ag_news", "banking77"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", default="@default", help="a model that encodes labels apart (default: the shipped one)"
    )
    parser.add_argument("--labels", type=positive_int, default=64, help=f"label names of {LABEL_SET} (default 64)")
    parser.add_argument("--texts", type=positive_int, default=128, help=f"texts of {TEXT_SET} (default 128)")
    parser.add_argument("--repeats", type=positive_int, default=3)
    parser.add_argument("--threads", type=positive_int, default=2)
    args = parser.parse_args(argv)
    return run_command(PROG, lambda: run(args))


def run(args: argparse.Namespace) -> None:
    """Load the texts, labels and model; time both ways and print one line."""
    torch.set_num_threads(args.threads)
    eval_dir = default_eval_dir()
    texts = load_set(eval_dir / TEXT_SET).texts[: args.texts]
    labels = load_set(eval_dir / LABEL_SET).labels
    if args.labels > len(labels):
        raise ValueError(f"--labels {args.labels}: {LABEL_SET} has {len(labels)} label names.")
    labels = labels[: args.labels]
    model = gliclass.GLiClassModel.from_pretrained(resolve_model(args.model))
    if not model.encodes_labels_apart:
        raise ValueError("this model's labels are not encoded apart (not every layer is segment-isolated).")
    apart = gliclass.pipeline(model=model, device="cpu")
    joint = gliclass.pipeline(model=model, device="cpu", encode_labels_apart=False)

    def timed(classifier: gliclass.ZeroShotMultilabelPipeline) -> tuple[float, list]:
        started = time.perf_counter()
        results = classifier(texts, candidate_labels=labels)
        return len(texts) / (time.perf_counter() - started), results

    timed(apart), timed(joint)  # warm-up
    apart_speeds, joint_speeds = [], []
    for _ in range(args.repeats):  # interleaved
        speed, apart_results = timed(apart)
        apart_speeds.append(speed)
        speed, joint_results = timed(joint)
        joint_speeds.append(speed)
    difference = max(
        abs(score - dict(zip(other["labels"], other["scores"]))[label])
        for mine, other in zip(apart_results, joint_results)
        for label, score in zip(mine["labels"], mine["scores"])
    )
    print(
        f"{args.labels} labels, {len(texts)} texts, {args.threads} threads: labels apart {max(apart_speeds):.1f} "
        f"texts/s, joint rows {max(joint_speeds):.1f} texts/s ({max(apart_speeds) / max(joint_speeds):.1f}x), "
        f"max |score difference| {difference:.1e} (texts cut in joint rows score differently)"
    )


if __name__ == "__main__":
    sys.exit(main())
