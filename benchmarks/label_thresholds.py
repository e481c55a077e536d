"""Per-label calibration from 8 examples per label (`gliclass.calibrate`): macro-F1 at 0.5 before/after.

    python -m benchmarks.label_thresholds                     # goemotions + split B of the multi-label train/ sets

For each set and seed, `--shots` examples per label (seeded) are given to `gliclass.calibrate`; the
macro-F1 at threshold 0.5 is measured on a seeded sample of `--limit` other texts, with the shipped
model before and after. Sets: `eval/goemotions` (the only multi-label eval set; examples and test
texts drawn from it, disjoint) and reuters21578, nlupp_banking and debian-packages (examples from
split A, test texts from split B: `training.fit_score_calibration.split_of`).
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from gliclass import GLiClassModel, calibrate, load_set, pipeline
from gliclass.cli import run_command
from gliclass.pipeline import DEFAULT_MODEL_DIR

from .arguments import positive_int, seeds
from .data import data_dir, held_out_split
from .examples import examples_and_test, macro_f1
from .report import check_output, markdown_table, new_run_folder, write_run

PROG = "python -m benchmarks.label_thresholds"
HELD_OUT_TRAIN_SETS = ("reuters21578", "nlupp_banking", "debian-packages")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--shots", type=positive_int, default=8, help="examples per label given to calibrate")
    parser.add_argument("--limit", type=positive_int, default=1000, help="test texts per set")
    parser.add_argument("--seeds", type=seeds, default=(0, 1, 2))
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: a new runs/benchmarks/...)")
    args = parser.parse_args(argv)
    return run_command(PROG, lambda: run(args, sys.argv[1:] if argv is None else argv))


def run(args: argparse.Namespace, argv: Sequence[str]) -> None:
    """Calibrate on each set and seed, print and write the before/after table."""
    check_output(args.out, "--out")
    root = data_dir()
    goemotions = load_set(root / "eval" / "goemotions", split="test")
    cases = [(goemotions, goemotions)]  # (examples drawn from, test texts drawn from)
    for name in HELD_OUT_TRAIN_SETS:
        labelled = load_set(root / "train" / name)
        label = f"{name} (train, A -> B)"
        cases.append((held_out_split(labelled, label, "A"), held_out_split(labelled, label, "B")))
    started = time.perf_counter()
    table: dict[str, dict[str, list[float]]] = {}
    for source, target in cases:
        for seed in args.seeds:
            examples, test = examples_and_test(source, args.shots, args.limit, seed)
            if source is not target:
                _, test = examples_and_test(target, 0, args.limit, seed)
            clf = pipeline(model=GLiClassModel.from_pretrained(DEFAULT_MODEL_DIR), dtype="float32")
            before = macro_f1(clf, test, [])
            calibrate(clf, examples, labels=source.labels)
            after = macro_f1(clf, test, [])
            row = table.setdefault(source.name, {"before": [], "after": []})
            row["before"].append(before)
            row["after"].append(after)
            print(f"{source.name} seed {seed}: {before:.3f} -> {after:.3f}", flush=True)

    def cell(values: list[float]) -> str:
        return f"{statistics.mean(values):.3f} ± {statistics.stdev(values) if len(values) > 1 else 0.0:.3f}"

    markdown = markdown_table(
        ["set", "macro-F1 at 0.5, shipped model", f"after calibrate ({args.shots} per label)"],
        [[name, cell(row["before"]), cell(row["after"])] for name, row in table.items()],
    )
    command = f"{PROG} {shlex.join(argv)}"
    seed_list = ",".join(map(str, args.seeds))
    markdown += f"\n\nmean ± sd over seeds {seed_list}; `{command}`, {time.perf_counter() - started:.0f} s\n"
    print(markdown)
    write_run(
        args.out or new_run_folder(),
        "label_thresholds",
        markdown,
        {"table": table, "settings": vars(args) | {"out": str(args.out)}},
    )


if __name__ == "__main__":
    sys.exit(main())
