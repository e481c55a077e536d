"""How `finetune` should choose its training length and mix: each rule's pick, scored on test texts.

    python -m benchmarks.finetune_selection --datasets hate_offensive --seeds 0,1,2 --json runs/selection_hate.json
    python -m benchmarks.finetune_selection --datasets hate_offensive --epochs 20 --json runs/selection_20ep.json
    python -m benchmarks.finetune_selection --report runs/selection_*.json      # one table of several runs

Only `train/` sets, their hash split B (settings are never chosen on `eval/`). For each set and seed,
8 examples per label and the test texts are drawn as in `benchmarks.few_shot`; the held-out folds are
trained and probed as `finetune` does, and one more run on all examples is probed on the test texts at
the same (epochs, alpha) grid. Each rule picks a candidate from the held-out tables, and the table
gives the test macro-F1 of its pick: `loss` is `finetune`'s rule (`training.finetune.chosen_candidate`),
`macro-F1` the rule it replaced (highest held-out macro-F1, ties to the smaller change), `all epochs`
no choice at all (train every epoch, alpha 1). `--epochs`, `--encoder-lr` and `--head-lr` train with
other settings than `finetune`'s defaults, to compare those too.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from gliclass import GLiClassModel
from gliclass.cli import run_command
from gliclass.data import LabelledSet
from gliclass.evaluation import metrics_from_scores
from training.finetune import (
    ENCODER_LR,
    EPOCHS,
    HEAD_LR,
    START,
    chosen_candidate,
    default_batch_size,
    held_out_metrics,
    held_out_splits,
    held_out_tables,
    probed_training,
    score_table,
)

from .arguments import dataset_names, non_negative_float, positive_float, positive_int, seeds
from .data import benchmark_set, data_dir
from .few_shot import split_k_shot
from .report import check_output, report_entries

PROG = "python -m benchmarks.finetune_selection"
ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
RULES = ("zero-shot", "macro-F1", "loss", "all epochs")


def highest_macro_f1(scores: dict[tuple[float, float], float]) -> tuple[float, float]:
    """The rule `finetune` used before: strictly higher held-out macro-F1, ties to the smaller change."""
    best = START
    for key in sorted(scores, key=lambda key: (key[1], key[0])):
        if scores[key] > scores[best]:
            best = key
    return best


def run_one(
    model_path: str,
    dataset: LabelledSet,
    seed: int,
    eval_limit: int,
    epochs: float = EPOCHS,
    encoder_lr: float = ENCODER_LR,
    head_lr: float = HEAD_LR,
) -> dict:
    """Test macro-F1 of each rule's pick for one set and seed, training as `finetune` does with
    these epochs and learning rates (default: `finetune`'s)."""
    train_idx, test_idx = split_k_shot(dataset, 8, seed, eval_limit)
    texts = [dataset.examples[index].text for index in train_idx]
    targets = [dataset.examples[index].true_labels for index in train_idx]
    start = GLiClassModel.from_pretrained(model_path).eval()
    settings = dict(
        epochs=epochs,
        seed=seed,
        batch_size=default_batch_size(start, dataset.labels),
        encoder_lr=encoder_lr,
        head_lr=head_lr,
        progress=False,
    )
    splits = held_out_splits(texts, targets, 4, seed)
    held_tables, _ = held_out_tables(start, texts, targets, dataset.labels, splits, ALPHAS, settings)
    held_gold = [targets[index] for split in splits for index in split]
    multi_label = any(len(example_targets) != 1 for example_targets in targets)
    scores, losses = held_out_metrics(held_tables, dataset.labels, held_gold, multi_label)
    test_texts = [dataset.examples[index].text for index in test_idx]
    test_gold = [dataset.examples[index].true_labels for index in test_idx]
    probe = probed_training(start, texts, targets, dataset.labels, test_texts, ALPHAS, settings)
    test_tables = {START: score_table(start, test_texts, dataset.labels), **probe.tables}
    picks = {
        "zero-shot": START,
        "macro-F1": highest_macro_f1(scores),
        "loss": chosen_candidate(scores, losses),
        "all epochs": (float(epochs), 1.0),
    }
    return {
        "dataset": dataset.name,
        "seed": seed,
        "training": {"epochs": epochs, "encoder_lr": encoder_lr, "head_lr": head_lr},
        "picks": {rule: list(pick) for rule, pick in picks.items()},
        "test_macro_f1": {
            rule: metrics_from_scores(test_tables[pick], dataset.labels, test_gold, multi_label)["macro_f1"]
            for rule, pick in picks.items()
        },
    }


def setting(row: dict) -> str:
    """A row's set, and its training settings where they are not `finetune`'s defaults."""
    training = row.get("training", {"epochs": EPOCHS, "encoder_lr": ENCODER_LR, "head_lr": HEAD_LR})
    if training == {"epochs": EPOCHS, "encoder_lr": ENCODER_LR, "head_lr": HEAD_LR}:
        return row["dataset"]
    return f"{row['dataset']} ({training['epochs']:g} epochs, lr {training['encoder_lr']:g}/{training['head_lr']:g})"


def markdown(rows: list[dict]) -> str:
    """Mean test macro-F1 per set (and training setting) and rule over seeds, and each rule's worst
    gap to zero-shot."""
    lines = [
        "| set | seeds | " + " | ".join(RULES) + " | worst seed gap: " + ", ".join(RULES[1:]) + " |",
        "|---|---" + "|---" * len(RULES) + "|---|",
    ]
    for name in dict.fromkeys(setting(row) for row in rows):
        runs = [row["test_macro_f1"] for row in rows if setting(row) == name]
        means = [f"{statistics.mean(run[rule] for run in runs):.3f}" for rule in RULES]
        worst = [f"{min(run[rule] - run['zero-shot'] for run in runs):+.3f}" for rule in RULES[1:]]
        lines.append(f"| {name} | {len(runs)} | " + " | ".join(means) + " | " + ", ".join(worst) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="gliclass/default_model")
    parser.add_argument(
        "--datasets", type=dataset_names, default="hate_offensive,imdb,nlupp_banking", help="train/ set names"
    )
    parser.add_argument("--seeds", type=seeds, default=(0, 1, 2))
    parser.add_argument("--eval-limit", type=positive_int, default=500)
    parser.add_argument("--epochs", type=positive_float, default=EPOCHS, help="training length (default: finetune's)")
    parser.add_argument("--encoder-lr", type=non_negative_float, default=ENCODER_LR, help="default: finetune's")
    parser.add_argument("--head-lr", type=non_negative_float, default=HEAD_LR, help="default: finetune's")
    parser.add_argument("--threads", type=positive_int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="write every number here")
    parser.add_argument("--report", nargs="+", type=Path, default=None, help="one table of these JSON files")
    args = parser.parse_args(argv)
    if not args.report:
        refused = [name for name in args.datasets if (data_dir() / "eval" / name).is_dir()]
        if refused:
            parser.error(f"{', '.join(refused)}: eval sets; rules are compared on train/ sets only.")
    return run_command(PROG, lambda: run(args, sys.argv[1:] if argv is None else argv))


def run(args: argparse.Namespace, argv: Sequence[str]) -> None:
    """The `--report` table, or every set and seed: print each row and the table, write `--json`."""
    if args.report:
        print(markdown([row for rows in report_entries(args.report, "results", PROG) for row in rows]))
        return
    check_output(args.json, "--json", folder=False)
    datasets = [benchmark_set(name, "B") for name in args.datasets]  # a wrong name fails before any run
    torch.set_num_threads(args.threads)
    command = f"{PROG} {' '.join(argv)}"
    rows = []
    for dataset in datasets:
        for seed in args.seeds:
            started = time.time()
            rows.append(run_one(args.model, dataset, seed, args.eval_limit, args.epochs, args.encoder_lr, args.head_lr))
            print(f"{dataset.name} seed {seed} ({time.time() - started:.0f} s): {rows[-1]}", flush=True)
    print(markdown(rows))
    if args.json:
        args.json.write_text(json.dumps({"command": command, "results": rows}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
