"""Few-shot `examples=` with the default model: 0, 1 and 2 examples per label, per set.

    python -m benchmarks.examples --choose          # pick example_weight on held-out splits of train/
    python -m benchmarks.examples                   # report on eval/ with the shipped example_weight
    python -m benchmarks.examples --report RUN1/examples.json RUN2/examples.json   # mean ± sd over seeds

Examples are drawn per label with a fixed seed from the set itself (the 1-per-label examples are
the first of the 2-per-label ones) and removed from its test texts: a seeded sample of `--limit`
of the rest, the same texts for every column, so each gain over zero-shot is paired. `--choose`
does the same on split B of `train/` sets (gliclass never tunes on `eval/`) for each candidate
`example_weight` and prints each one's mean and worst gain over zero-shot. Prints a Markdown table
and writes JSON.
"""

from __future__ import annotations

import argparse
import random
import shlex
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from gliclass import LabelledSet, load_set, pipeline
from gliclass.cli import run_command
from gliclass.data import eval_sets
from gliclass.evaluation import metrics_from_scores
from gliclass.example_evidence import EXAMPLE_WEIGHT

from .arguments import positive_int
from .data import data_dir, held_out_split
from .few_shot import spread
from .report import check_output, markdown_table, new_run_folder, report_entries, write_run

PROG = "python -m benchmarks.examples"
CHOICE_SETS = ("clinc150", "debian-packages", "hate_offensive", "imdb", "nlupp_banking", "reuters21578")
WEIGHTS = (0.3, 0.4, 0.5)
ZERO_SHOT = "0 per label"


def drawn_examples(labelled: LabelledSet, shots: int, limit: int, seed: int) -> tuple[list[list[int]], LabelledSet]:
    """Per label, `shots` seeded example indices in drawn order (the first k of each label are its
    k-shot examples), and a seeded sample of at most `limit` other examples: one test set for
    every number of shots up to `shots`, so that each column is scored on the same texts."""
    rng = random.Random(seed)
    per_label: list[list[int]] = []
    for label in labelled.labels:
        taken = {index for indices in per_label for index in indices}
        pool = [i for i, example in enumerate(labelled.examples) if label in example.true_labels and i not in taken]
        per_label.append(rng.sample(pool, min(shots, len(pool))))
    taken = {index for indices in per_label for index in indices}
    rest = [example for i, example in enumerate(labelled.examples) if i not in taken]
    test = LabelledSet(labelled.name, random.Random(seed).sample(rest, min(limit, len(rest))), labelled.labels)
    test.multi_label = labelled.multi_label
    return per_label, test


def shown_examples(labelled: LabelledSet, per_label: list[list[int]], shots: int) -> list[dict]:
    """The `{"text", "labels"}` examples of the first `shots` drawn indices of each label."""
    chosen = [index for indices in per_label for index in indices[:shots]]
    return [{"text": labelled.examples[i].text, "labels": labelled.examples[i].true_labels} for i in chosen]


def examples_and_test(labelled: LabelledSet, shots: int, limit: int, seed: int) -> tuple[list[dict], LabelledSet]:
    """`shots` examples per label (seeded) and a seeded sample of at most `limit` other examples."""
    per_label, test = drawn_examples(labelled, shots, limit, seed)
    return shown_examples(labelled, per_label, shots), test


def macro_f1(clf, test: LabelledSet, examples: list[dict]) -> float:
    """Macro-F1 of the pipeline on `test` with these examples (argmax, or 0.5 for multi-label sets)."""
    scores = clf.score_texts(test.texts, test.labels, examples=examples or None, multi_label=True)
    gold = [example.true_labels for example in test.examples]
    return metrics_from_scores(scores, test.labels, gold, test.multi_label)["macro_f1"]


def seeds_report(tables: list[dict[str, dict[str, float]]]) -> str:
    """Mean ± sd over runs (seeds) per set and column, and each column's mean and worst gain over zero-shot."""
    columns = list(next(iter(tables[0].values())))
    rows, gains = [], {column: [] for column in columns if column != ZERO_SHOT}
    for name in tables[0]:
        values = {column: [table[name][column] for table in tables] for column in columns}
        zero_shot = statistics.mean(values[ZERO_SHOT])
        for column in gains:
            gains[column].append(statistics.mean(values[column]) - zero_shot)
        rows.append([name, *(f"{statistics.mean(v):.3f}{spread(v)}" for v in values.values())])
    text = markdown_table(["set", *columns], rows)
    for column, values in gains.items():
        text += f"\n{column}: mean gain over zero-shot {statistics.mean(values):+.4f}, worst {min(values):+.4f}"
    return text + f"\n\n{len(tables)} runs (seeds)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--choose", action="store_true", help="choose example_weight on split B of train/ sets")
    parser.add_argument("--limit", type=positive_int, default=500, help="test texts per set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: a new runs/benchmarks/...)")
    parser.add_argument("--report", nargs="+", type=Path, default=None, help="mean ± sd table of these JSON files")
    args = parser.parse_args(argv)
    return run_command(PROG, lambda: run(args, sys.argv[1:] if argv is None else argv))


def run(args: argparse.Namespace, argv: Sequence[str]) -> None:
    """The `--report` table, or score every set and column, print the table and write the run."""
    if args.report:
        print(seeds_report(report_entries(args.report, "table", PROG)))
        return
    check_output(args.out, "--out")
    torch.manual_seed(args.seed)
    root = data_dir()
    started = time.perf_counter()
    if args.choose:
        sets, weights = [held_out_split(load_set(root / "train" / name), name) for name in CHOICE_SETS], WEIGHTS
    else:
        sets, weights = eval_sets(root / "eval"), (EXAMPLE_WEIGHT,)
    pipes = {weight: pipeline(example_weight=weight, dtype="float32") for weight in weights}
    columns = [ZERO_SHOT] + [f"{shots} per label, weight {weight}" for weight in weights for shots in (1, 2)]
    table: dict[str, dict[str, float]] = {}
    for labelled in sets:
        row = table.setdefault(labelled.name, {})
        per_label, test = drawn_examples(labelled, 2, args.limit, args.seed)
        row[ZERO_SHOT] = macro_f1(pipes[weights[0]], test, [])
        for shots in (1, 2):
            examples = shown_examples(labelled, per_label, shots)
            for weight, clf in pipes.items():
                row[f"{shots} per label, weight {weight}"] = macro_f1(clf, test, examples)
        print(labelled.name, {k: round(v, 3) for k, v in row.items()}, flush=True)
    markdown = markdown_table(
        ["set", *columns], [[name, *(f"{row[c]:.3f}" for c in columns)] for name, row in table.items()]
    )
    for weight in weights:
        gains = [
            row[f"{shots} per label, weight {weight}"] - row[ZERO_SHOT] for row in table.values() for shots in (1, 2)
        ]
        markdown += (
            f"\nweight {weight}: mean gain over zero-shot {sum(gains) / len(gains):+.4f}, worst {min(gains):+.4f}"
        )
    command = f"{PROG} {shlex.join(argv)}"
    markdown += f"\n\n`{command}`, {time.perf_counter() - started:.0f} s\n"
    print(markdown)
    payload = {"table": table, "settings": vars(args) | {"out": str(args.out)}}
    write_run(args.out or new_run_folder(), "examples_choose" if args.choose else "examples", markdown, payload)


if __name__ == "__main__":
    sys.exit(main())
