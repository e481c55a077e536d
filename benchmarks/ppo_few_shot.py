"""Few-shot macro-F1 of PPO against zero-shot and supervised fine-tuning, over seeds.

    python -m benchmarks.ppo_few_shot --model gliclass/default_model \\
        --datasets goemotions,ag_news,emotion,hate_offensive,imdb --seeds 0,1,2 --json OUT.json
    python -m benchmarks.ppo_few_shot --model gliclass/default_model --choose --datasets hate_offensive,imdb
    python -m benchmarks.ppo_few_shot --report OUT1.json OUT2.json

For each set and seed, the protocol of `benchmarks.few_shot`: k examples per label drawn with the
seed are the training pool; a seeded sample of the rest (`--eval-limit`) is the test set, the same
for every column. A name under `eval/` is that set's test split; a name under `train/` is the
texts of its hash split B (`training.fit_score_calibration.split_of`: 10% of the texts, nearly unseen
by the shipped model), and `--choose` runs on split A instead, which never overlaps B: it tries the
`CANDIDATES` PPO settings with seed 0 and prints their mean macro-F1 per reward, so that the test
run's settings are chosen away from its test texts (eval sets are refused for `--choose`).

Columns: the starting model (zero-shot); supervised fine-tuning (`training.finetune`, its
defaults); PPO from the full labels of the pool; PPO from feedback simulated from the gold labels,
where a "person" only accepts or rejects the starting model's top-3 labels of each pool text
(nothing else is judged). Multi-label sets are scored at threshold 0.5, single-label sets by argmax.
Writes JSON with every number; `--report` prints the mean ± sd table of one or more such files.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from gliclass import GLiClassModel, ZeroShotMultilabelPipeline
from gliclass.cli import run_command
from training import LabelledSet, evaluate_set, finetune
from training.feedback.data import FeedbackRecord
from training.ppo.episodes import Episode, episodes_from_examples, episodes_from_feedback
from training.ppo.rewards import get_reward
from training.ppo.trainer import PPOArguments, PPOTrainer

from .arguments import dataset_names, non_negative_float, positive_float, positive_int, seeds
from .data import benchmark_set
from .few_shot import split_k_shot, spread
from .report import check_output, report_entries

PROG = "python -m benchmarks.ppo_few_shot"
COLUMNS = ("zero_shot", "supervised", "ppo_labels", "ppo_feedback")
HEADERS = ("zero-shot", "supervised", "PPO (labels)", "PPO (top-3 feedback)")
# settings --choose compares: PPO steps, and the positive weight of each recall_weighted reward
CANDIDATES = (
    {"ppo_steps": 40, "label_positive_weight": 3.0, "feedback_positive_weight": 6.0},
    {"ppo_steps": 20, "label_positive_weight": 3.0, "feedback_positive_weight": 6.0},
    {"ppo_steps": 40, "label_positive_weight": 1.0, "feedback_positive_weight": 3.0},
)


def simulated_feedback(model: GLiClassModel, pool: LabelledSet, top: int) -> list[FeedbackRecord]:
    """What a person who knows the gold labels says about the model's `top` labels of each text."""
    results = ZeroShotMultilabelPipeline(model=model)([e.text for e in pool.examples], candidate_labels=pool.labels)
    records = []
    for example, result in zip(pool.examples, results):
        shown = result["labels"][:top]
        records.append(
            FeedbackRecord(
                example.text,
                list(pool.labels),
                accepted=[label for label in shown if label in example.true_labels],
                rejected=[label for label in shown if label not in example.true_labels],
            )
        )
    return records


def run_ppo(
    model_path: str, episodes: list[Episode], reward: str, weight: float, options: dict[str, Any]
) -> tuple[GLiClassModel, dict]:
    """PPO from the starting model; returns the model and the first, middle and last logged metrics."""
    with tempfile.TemporaryDirectory() as scratch:
        args = PPOArguments(output_dir=scratch, save_final_model=False, progress=False, logging_steps=1, **options)
        model = PPOTrainer(
            GLiClassModel.from_pretrained(model_path), args, episodes, get_reward(reward, weight)
        ).train()
        log = [json.loads(line) for line in (Path(scratch) / "metrics.jsonl").read_text().splitlines()]
    return model, {"first": log[0], "mid": log[len(log) // 2], "last": log[-1]}


def add_ppo_arguments(parser: argparse.ArgumentParser) -> None:
    """The PPO and simulated-feedback options this benchmark and `benchmarks.active_learning` share."""
    parser.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads")
    parser.add_argument(
        "--feedback-top", type=positive_int, default=3, help="labels a simulated person judges per text"
    )
    parser.add_argument("--ppo-steps", type=positive_int, default=20, help="PPO steps (rollouts of --batch-size texts)")
    parser.add_argument(
        "--feedback-positive-weight", type=positive_float, default=6.0, help="recall_weighted, from feedback"
    )
    parser.add_argument("--batch-size", type=positive_int, default=16)
    parser.add_argument("--samples-per-text", type=positive_int, default=32)
    parser.add_argument("--temperature", type=positive_float, default=2.0)
    parser.add_argument("--encoder-lr", type=non_negative_float, default=2e-5)
    parser.add_argument("--head-lr", type=non_negative_float, default=1e-4)
    parser.add_argument("--kl-coef", type=non_negative_float, default=0.05)
    parser.add_argument("--max-length", type=positive_int, default=256, help="PPO rows are cut to this many tokens")


def ppo_options(args: argparse.Namespace, settings: dict[str, float], seed: int) -> dict[str, Any]:
    """`PPOArguments` fields of one run."""
    return dict(
        max_steps=int(settings["ppo_steps"]),
        batch_size=args.batch_size,
        samples_per_text=args.samples_per_text,
        temperature=args.temperature,
        encoder_lr=args.encoder_lr,
        head_lr=args.head_lr,
        kl_coef=args.kl_coef,
        max_length=args.max_length,
        seed=seed,
    )


def run_one(
    args: argparse.Namespace, dataset: LabelledSet, seed: int, settings: dict[str, float], columns: tuple[str, ...]
) -> dict[str, Any]:
    """The `columns` of one set and seed, with wall times and the simulated feedback's size."""
    train_idx, test_idx = split_k_shot(dataset, args.shots, seed, args.eval_limit)
    pool = LabelledSet(dataset.name, [dataset.examples[i] for i in train_idx], dataset.labels, dataset.multi_label)
    test = LabelledSet(dataset.name, [dataset.examples[i] for i in test_idx], dataset.labels, dataset.multi_label)
    start = GLiClassModel.from_pretrained(args.model)
    row: dict[str, Any] = {
        "dataset": dataset.name,
        "seed": seed,
        "settings": settings,
        "train_examples": len(train_idx),
        "test_examples": len(test_idx),
        "seconds": {},
    }
    if "zero_shot" in columns:
        row["zero_shot"] = evaluate_set(start, test)
    if "supervised" in columns:
        began = time.time()
        examples = [{"text": e.text, "labels": e.true_labels} for e in pool.examples]
        tuned = finetune(
            GLiClassModel.from_pretrained(args.model), examples, labels=dataset.labels, seed=seed, progress=False
        )
        row["seconds"]["supervised"] = time.time() - began
        row["supervised"] = evaluate_set(tuned, test)
    options = ppo_options(args, settings, seed)
    if "ppo_labels" in columns:
        began = time.time()
        episodes = episodes_from_examples(pool.examples, dataset.labels)
        tuned, row["ppo_labels_log"] = run_ppo(
            args.model, episodes, "recall_weighted", settings["label_positive_weight"], options
        )
        row["seconds"]["ppo_labels"] = time.time() - began
        row["ppo_labels"] = evaluate_set(tuned, test)
    if "ppo_feedback" in columns:
        feedback = simulated_feedback(start, pool, args.feedback_top)
        row["feedback"] = {
            "accepted": sum(len(r.accepted) for r in feedback),
            "rejected": sum(len(r.rejected) for r in feedback),
            "gold_labels": sum(len(e.true_labels) for e in pool.examples),
        }
        began = time.time()
        tuned, row["ppo_feedback_log"] = run_ppo(
            args.model,
            episodes_from_feedback(feedback),
            "recall_weighted",
            settings["feedback_positive_weight"],
            options,
        )
        row["seconds"]["ppo_feedback"] = time.time() - began
        row["ppo_feedback"] = evaluate_set(tuned, test)
    print(
        f"{dataset.name} seed {seed}: "
        + ", ".join(f"{column} {row[column]['macro_f1']:.3f}" for column in columns if column in row),
        flush=True,
    )
    return row


def merged(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of the same set and seed (columns run in separate processes) as one row each."""
    by_run: dict[tuple[str, int], dict[str, Any]] = {}
    for row in rows:
        into = by_run.setdefault((row["dataset"], row["seed"]), {"seconds": {}})
        into.update({key: value for key, value in row.items() if key != "seconds"})
        into["seconds"].update(row["seconds"])
    return list(by_run.values())


def report(rows: list[dict[str, Any]]) -> str:
    """Mean ± sd over seeds per set and column, the best mean in bold, and PPO's mean wall time."""
    lines = [
        "| dataset | seeds | pool | test | " + " | ".join(HEADERS) + " | PPO seconds |",
        "|---|---|---|---|" + "---|" * len(HEADERS) + "---|",
    ]
    for name in dict.fromkeys(row["dataset"] for row in rows):
        runs = [row for row in rows if row["dataset"] == name]
        means = {
            column: statistics.mean(row[column]["macro_f1"] for row in runs)
            for column in COLUMNS
            if all(column in row for row in runs)
        }
        best = max(means.values())
        cells = []
        for column in COLUMNS:
            if column not in means:
                cells.append("-")
                continue
            values = [row[column]["macro_f1"] for row in runs]
            cell = f"{means[column]:.3f}{spread(values)}"
            cells.append(f"**{cell}**" if means[column] == best else cell)
        seconds = [
            row["seconds"][key] for row in runs for key in ("ppo_labels", "ppo_feedback") if key in row["seconds"]
        ]
        lines.append(
            f"| {name} | {len(runs)} | {runs[0]['train_examples']} | {runs[0]['test_examples']} | "
            + " | ".join(cells)
            + (f" | {statistics.mean(seconds):.0f} |" if seconds else " | - |")
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="GLiClass checkpoint to start from")
    parser.add_argument("--datasets", type=dataset_names, default="goemotions,ag_news,emotion,hate_offensive,imdb")
    parser.add_argument("--seeds", type=seeds, default=(0, 1, 2))
    parser.add_argument("--columns", type=_columns, default=COLUMNS, help=f"a subset of {','.join(COLUMNS)}")
    parser.add_argument("--choose", action="store_true", help="compare CANDIDATES on split A of train/ sets")
    parser.add_argument("--report", nargs="+", type=Path, default=None, help="print the table of these JSON files")
    parser.add_argument("--shots", type=positive_int, default=8)
    parser.add_argument("--eval-limit", type=positive_int, default=500)
    parser.add_argument(
        "--label-positive-weight", type=positive_float, default=3.0, help="recall_weighted, PPO from labels"
    )
    add_ppo_arguments(parser)
    parser.add_argument("--json", type=Path, default=None, help="where to write every number and the settings")
    args = parser.parse_args(argv)
    if args.model is None and not args.report:
        parser.error("--model is required (except with --report)")
    return run_command(PROG, lambda: run(args, sys.argv[1:] if argv is None else argv))


def run(args: argparse.Namespace, argv: Sequence[str]) -> None:
    """The `--report` table, or the runs of every setting, set and seed: print the table, write `--json`."""
    if args.report:
        print(report(merged([row for rows in report_entries(args.report, "results", PROG) for row in rows])))
        return
    check_output(args.json, "--json", folder=False)
    torch.set_num_threads(args.threads)
    print(f"command: {PROG} {' '.join(argv)}", flush=True)
    split = "A" if args.choose else "B"
    datasets = [benchmark_set(name, split) for name in args.datasets]
    if args.choose:
        grid = list(CANDIDATES)
        columns, run_seeds = ("ppo_labels", "ppo_feedback"), (0,)
    else:
        grid = [{key: getattr(args, key) for key in CANDIDATES[0]}]
        columns, run_seeds = args.columns, args.seeds
    rows = [
        run_one(args, dataset, seed, settings, columns)
        for settings in grid
        for dataset in datasets
        for seed in run_seeds
    ]
    if args.choose:
        for settings in grid:
            runs = [row for row in rows if row["settings"] == settings]
            means = {column: statistics.mean(row[column]["macro_f1"] for row in runs) for column in columns}
            print(f"{settings}: " + ", ".join(f"{column} {value:.3f}" for column, value in means.items()))
    else:
        print("\n" + report(rows))
    if args.json:
        record = {
            "command": [*PROG.split(), *argv],
            "settings": vars(args),
            "split": split,
            "results": rows,
        }
        args.json.write_text(json.dumps(record, indent=2, default=str))
        print(f"\nwrote {args.json}")


def _columns(text: str) -> tuple[str, ...]:
    """Comma-separated names of `COLUMNS`, at least one."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in COLUMNS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"expected a subset of {','.join(COLUMNS)}, got {text!r}.")
    return names


if __name__ == "__main__":
    sys.exit(main())
