"""Active learning against random order: PPO from simulated feedback on the first N texts asked about.

    python -m benchmarks.active_learning --model gliclass/default_model --datasets emotion,ag_news \\
        --answers 16,32,64 --seeds 0,1 --json benchmarks/results/active_learning.json

For each set and seed: a seeded pool of `--pool` unlabelled texts and a disjoint seeded test sample
(`--eval-limit`). The starting model scores the pool once; `uncertain` asks first about the texts
whose two best labels are closest (`training.feedback.ordering`, what `--order uncertain` does
without re-scoring), `random` in a seeded shuffle. For each number of answers N, a "person" who
knows the gold labels accepts or rejects the starting model's top-3 labels of the first N texts, and
PPO from that feedback (the settings of `benchmarks.ppo_few_shot`) starts again from the starting
model. Macro-F1 on the test sample (N = 0: the starting model), the table, and a PNG of the curves.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from gliclass import GLiClassModel, ZeroShotMultilabelPipeline
from gliclass.cli import run_command
from training import LabelledSet, evaluate_set
from training.feedback.ordering import asking_order
from training.ppo.episodes import episodes_from_feedback

from .arguments import dataset_names, positive_int, seeds, some_counts
from .ppo_few_shot import add_ppo_arguments, benchmark_set, ppo_options, run_ppo, simulated_feedback
from .report import check_output

PROG = "python -m benchmarks.active_learning"
ORDERS = ("uncertain", "random")


def pool_and_test(dataset: LabelledSet, pool_size: int, eval_limit: int, seed: int) -> tuple[LabelledSet, LabelledSet]:
    """A seeded pool and a disjoint seeded test sample of `dataset`."""
    indices = list(range(len(dataset.examples)))
    random.Random(seed).shuffle(indices)
    pool, test = indices[:pool_size], sorted(indices[pool_size : pool_size + eval_limit])
    return tuple(
        LabelledSet(dataset.name, [dataset.examples[i] for i in part], dataset.labels, dataset.multi_label)
        for part in (pool, test)
    )


def run_curve(args: argparse.Namespace, dataset: LabelledSet, seed: int) -> list[dict[str, Any]]:
    """Macro-F1 after PPO on the feedback of the first N texts, per order and N."""
    pool, test = pool_and_test(dataset, args.pool, args.eval_limit, seed)
    start = GLiClassModel.from_pretrained(args.model)
    scores = ZeroShotMultilabelPipeline(model=start).score_texts(pool.texts, pool.labels).tolist()
    zero_shot = evaluate_set(start, test)["macro_f1"]
    options = ppo_options(args, {"ppo_steps": args.ppo_steps}, seed)
    rows = []
    for order in ORDERS:
        ranked = asking_order(scores, order, seed=seed)
        rows.append({"dataset": dataset.name, "seed": seed, "order": order, "answers": 0, "macro_f1": zero_shot})
        for answers in args.answers:
            asked = LabelledSet(
                dataset.name, [pool.examples[i] for i in ranked[:answers]], pool.labels, pool.multi_label
            )
            feedback = simulated_feedback(start, asked, args.feedback_top)
            tuned, _ = run_ppo(
                args.model, episodes_from_feedback(feedback), "recall_weighted", args.feedback_positive_weight, options
            )
            macro_f1 = evaluate_set(tuned, test)["macro_f1"]
            accepted = sum(len(record.accepted) for record in feedback)
            rows.append(
                {
                    "dataset": dataset.name,
                    "seed": seed,
                    "order": order,
                    "answers": answers,
                    "accepted": accepted,
                    "macro_f1": macro_f1,
                }
            )
            print(f"{dataset.name} seed {seed} {order} {answers} answers: macro-F1 {macro_f1:.3f}", flush=True)
    return rows


def curves(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[int, list[float]]]:
    """`{(dataset, order): {answers: [macro-F1 per seed]}}`."""
    table: dict[tuple[str, str], dict[int, list[float]]] = {}
    for row in rows:
        table.setdefault((row["dataset"], row["order"]), {}).setdefault(row["answers"], []).append(row["macro_f1"])
    return table


def markdown(rows: list[dict[str, Any]]) -> str:
    """One line per set and order: mean macro-F1 over seeds at each number of answers."""
    table = curves(rows)
    answers = sorted({row["answers"] for row in rows})
    lines = [
        "| dataset | order | " + " | ".join(f"{n} answers" for n in answers) + " |",
        "|---|---|" + "---|" * len(answers),
    ]
    for (name, order), points in table.items():
        lines.append(f"| {name} | {order} | " + " | ".join(f"{statistics.mean(points[n]):.3f}" for n in answers) + " |")
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Mean macro-F1 (min-max over seeds) against answers, one panel per set."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    table = curves(rows)
    names = list(dict.fromkeys(name for name, _ in table))
    figure, axes = pyplot.subplots(1, len(names), figsize=(5 * len(names), 4), squeeze=False)
    for axis, name in zip(axes[0], names):
        for order in ORDERS:
            points = table[(name, order)]
            answers = sorted(points)
            means = [statistics.mean(points[n]) for n in answers]
            below = [m - min(points[n]) for m, n in zip(means, answers)]
            above = [max(points[n]) - m for m, n in zip(means, answers)]
            axis.errorbar(answers, means, yerr=[below, above], marker="o", capsize=3, label=order)
        seeds = len(table[(name, ORDERS[0])][0])
        axis.set_title(f"{name}: PPO from top-3 feedback ({seeds} seed{'s' if seeds > 1 else ''})", fontsize=10)
        axis.set_xlabel("texts answered")
        axis.set_ylabel("macro-F1 on held-out texts")
        axis.grid(True, alpha=0.3)
        axis.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    pyplot.close(figure)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="GLiClass checkpoint to start from")
    parser.add_argument("--datasets", type=dataset_names, default="emotion,ag_news")
    parser.add_argument("--answers", type=some_counts, default=(16, 32, 64), help="numbers of texts answered")
    parser.add_argument("--seeds", type=seeds, default=(0, 1))
    parser.add_argument("--pool", type=positive_int, default=400, help="unlabelled texts the order is chosen from")
    parser.add_argument("--eval-limit", type=positive_int, default=500)
    add_ppo_arguments(parser)
    parser.add_argument("--json", type=Path, required=True, help="every number; the PNG goes next to it")
    args = parser.parse_args(argv)
    if max(args.answers) > args.pool:
        parser.error(f"--answers {max(args.answers)}: more than the --pool of {args.pool} texts.")
    return run_command(PROG, lambda: run(args, sys.argv[1:] if argv is None else argv))


def run(args: argparse.Namespace, argv: Sequence[str]) -> None:
    """Every set and seed's curves: print the table, write `--json` and the PNG beside it."""
    check_output(args.json, "--json", folder=False)
    torch.set_num_threads(args.threads)
    print(f"command: {PROG} {' '.join(argv)}", flush=True)
    datasets = [benchmark_set(name, "B") for name in args.datasets]  # a wrong name fails before any run
    rows = [row for dataset in datasets for seed in args.seeds for row in run_curve(args, dataset, seed)]
    print("\n" + markdown(rows))
    args.json.write_text(
        json.dumps({"command": [*PROG.split(), *argv], "settings": vars(args), "results": rows}, indent=2, default=str)
    )
    plot(rows, args.json.with_suffix(".png"))
    print(f"\nwrote {args.json} and {args.json.with_suffix('.png')}")


if __name__ == "__main__":
    sys.exit(main())
