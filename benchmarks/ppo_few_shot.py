"""Few-shot macro-F1 of PPO against zero-shot and supervised fine-tuning.

    python -m benchmarks.ppo_few_shot --model PATH --datasets goemotions,emotion --shots 8

For each eval set, the protocol of `benchmarks.few_shot`: k examples per label drawn with a fixed
seed are the training pool; a seeded sample of the rest (`--eval-limit`) is the test set, the same
for every column. Columns: the starting model (zero-shot); supervised fine-tuning
(`training.finetune`); PPO from the full labels of the pool; PPO from feedback simulated from the
gold labels, where a "person" only accepts or rejects the starting model's top-3 labels of each
pool text (nothing else is judged). Multi-label sets are scored at threshold 0.5, single-label
sets by argmax. Prints the command and a Markdown table, and writes JSON with every number.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from gliclass import GLiClassModel, ZeroShotMultilabelPipeline
from training import LabelledSet, evaluate_set, finetune, load_set
from training.feedback.data import FeedbackRecord
from training.ppo.episodes import Episode, episodes_from_examples, episodes_from_feedback
from training.ppo.rewards import get_reward
from training.ppo.trainer import PPOArguments, PPOTrainer

from .data import data_dir
from .few_shot import split_k_shot

COLUMNS = ("zero_shot", "supervised", "ppo_labels", "ppo_feedback")


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
                accepted=[label for label in shown if label in example.targets],
                rejected=[label for label in shown if label not in example.targets],
            )
        )
    return records


def run_ppo(
    model_path: str, episodes: list[Episode], reward: str, weight: float, options: dict[str, Any]
) -> tuple[GLiClassModel, dict]:
    """PPO from the starting model; returns the model and the last logged metrics."""
    with tempfile.TemporaryDirectory() as scratch:
        args = PPOArguments(output_dir=scratch, save_final_model=False, progress=False, logging_steps=1, **options)
        model = PPOTrainer(
            GLiClassModel.from_pretrained(model_path), args, episodes, get_reward(reward, weight)
        ).train()
        log = [json.loads(line) for line in (Path(scratch) / "metrics.jsonl").read_text().splitlines()]
    return model, {"first": log[0], "mid": log[len(log) // 2], "last": log[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="GLiClass checkpoint to start from")
    parser.add_argument("--datasets", default="goemotions,ag_news")
    parser.add_argument("--shots", type=int, default=8)
    parser.add_argument("--eval-limit", type=int, default=500)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--finetune-epochs", type=float, default=10)
    parser.add_argument("--feedback-top", type=int, default=3, help="labels a simulated person judges per text")
    parser.add_argument("--label-reward", default="recall_weighted", help="reward for PPO from full labels")
    parser.add_argument("--label-positive-weight", type=float, default=3.0, help="for a recall_weighted label reward")
    parser.add_argument("--feedback-reward", default="recall_weighted", help="reward for PPO from feedback")
    parser.add_argument(
        "--feedback-positive-weight", type=float, default=6.0, help="for a recall_weighted feedback reward"
    )
    parser.add_argument("--ppo-steps", type=int, default=40, help="PPO steps (rollouts of --batch-size texts)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--samples-per-text", type=int, default=32)
    parser.add_argument("--temperature", type=float, default=2.0)
    parser.add_argument("--encoder-lr", type=float, default=2e-5)
    parser.add_argument("--head-lr", type=float, default=1e-4)
    parser.add_argument("--kl-coef", type=float, default=0.05)
    parser.add_argument("--json", type=Path, required=True, help="where to write every number and the settings")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"command: python -m benchmarks.ppo_few_shot {' '.join(sys.argv[1:])}", flush=True)
    ppo_options = dict(
        max_steps=args.ppo_steps,
        batch_size=args.batch_size,
        samples_per_text=args.samples_per_text,
        temperature=args.temperature,
        encoder_lr=args.encoder_lr,
        head_lr=args.head_lr,
        kl_coef=args.kl_coef,
        seed=args.seed,
    )
    rows = []
    for name in args.datasets.split(","):
        dataset = load_set(data_dir() / "eval" / name, split="test")
        train_idx, test_idx = split_k_shot(dataset, args.shots, args.seed, args.eval_limit)
        pool = LabelledSet(name, [dataset.examples[i] for i in train_idx], dataset.labels, dataset.multi_label)
        test = LabelledSet(name, [dataset.examples[i] for i in test_idx], dataset.labels, dataset.multi_label)
        start = GLiClassModel.from_pretrained(args.model)
        row: dict[str, Any] = {
            "dataset": name,
            "train_examples": len(train_idx),
            "test_examples": len(test_idx),
            "seconds": {},
        }
        row["zero_shot"] = evaluate_set(start, test)

        began = time.time()
        examples = [{"text": e.text, "labels": list(e.targets)} for e in pool.examples]
        tuned = finetune(
            GLiClassModel.from_pretrained(args.model),
            examples,
            labels=dataset.labels,
            epochs=args.finetune_epochs,
            seed=args.seed,
            progress=False,
        )
        row["seconds"]["supervised"] = time.time() - began
        row["supervised"] = evaluate_set(tuned, test)

        began = time.time()
        tuned, row["ppo_labels_log"] = run_ppo(
            args.model,
            episodes_from_examples(pool.examples, dataset.labels),
            args.label_reward,
            args.label_positive_weight,
            ppo_options,
        )
        row["seconds"]["ppo_labels"] = time.time() - began
        row["ppo_labels"] = evaluate_set(tuned, test)

        feedback = simulated_feedback(start, pool, args.feedback_top)
        row["feedback"] = {
            "accepted": sum(len(r.accepted) for r in feedback),
            "rejected": sum(len(r.rejected) for r in feedback),
            "gold_labels": sum(len(e.targets) for e in pool.examples),
        }
        began = time.time()
        tuned, row["ppo_feedback_log"] = run_ppo(
            args.model,
            episodes_from_feedback(feedback),
            args.feedback_reward,
            args.feedback_positive_weight,
            ppo_options,
        )
        row["seconds"]["ppo_feedback"] = time.time() - began
        row["ppo_feedback"] = evaluate_set(tuned, test)
        rows.append(row)
        print(f"{name}: " + ", ".join(f"{column} {row[column]['macro_f1']:.3f}" for column in COLUMNS), flush=True)

    print(
        "\n| dataset | train | test | zero-shot | supervised | PPO (labels) | PPO (top-3 feedback) |"
        "\n|---|---|---|---|---|---|---|"
    )
    for row in rows:
        print(
            f"| {row['dataset']} | {row['train_examples']} | {row['test_examples']} | "
            + " | ".join(f"{row[column]['macro_f1']:.3f}" for column in COLUMNS)
            + " |"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps({"command": sys.argv, "settings": vars(args), "results": rows}, indent=2, default=str)
    )
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
