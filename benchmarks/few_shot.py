"""Zero-shot vs k-shot macro-F1: fine-tune on k examples per label, evaluate on the rest.

    python -m benchmarks.few_shot --model PATH --datasets ag_news,emotion,snips --shots 8

For each eval set: k examples per label drawn with a fixed seed are the training set (for
multi-label sets an example counts for each of its labels); a seeded sample of the remaining
examples (`--eval-limit`) is the test set, identical for both columns. Prints a Markdown table
and writes JSON with every number and the settings.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import torch

from gliclass import GLiClassModel
from training import LabelledSet, evaluate_set, finetune, load_set

from .data import data_dir


def split_k_shot(labelled: LabelledSet, shots: int, seed: int, eval_limit: int | None) -> tuple[list[int], list[int]]:
    """Indices of k examples per label (training) and of a seeded sample of the rest (test)."""
    rng = random.Random(seed)
    by_label: dict[str, list[int]] = {}
    for index, example in enumerate(labelled.examples):
        for label in example.targets:
            by_label.setdefault(label, []).append(index)
    chosen: list[int] = []
    taken: set[int] = set()
    for label in labelled.labels:
        pool = [index for index in by_label.get(label, []) if index not in taken]
        picked = rng.sample(pool, min(shots, len(pool)))
        chosen.extend(picked)
        taken.update(picked)
    rest = [index for index in range(len(labelled.examples)) if index not in taken]
    if eval_limit and len(rest) > eval_limit:
        rest = sorted(rng.sample(rest, eval_limit))
    return chosen, rest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="GLiClass checkpoint to start from")
    parser.add_argument("--datasets", default="ag_news,emotion,snips")
    parser.add_argument("--shots", type=int, default=8)
    parser.add_argument("--epochs", type=float, default=10)
    parser.add_argument("--encoder-lr", type=float, default=2e-5)
    parser.add_argument("--head-lr", type=float, default=1e-4)
    parser.add_argument("--eval-limit", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"command: python -m benchmarks.few_shot {' '.join(sys.argv[1:])}")
    rows = []
    for name in args.datasets.split(","):
        dataset = load_set(data_dir() / "eval" / name, split="test")
        train_idx, test_idx = split_k_shot(dataset, args.shots, args.seed, args.eval_limit)
        test = LabelledSet(name, [dataset.examples[i] for i in test_idx], dataset.labels, dataset.multi_label)
        zero_shot = evaluate_set(GLiClassModel.from_pretrained(args.model), test)
        started = time.time()
        tuned = finetune(
            GLiClassModel.from_pretrained(args.model),
            [{"text": dataset.examples[i].text, "labels": list(dataset.examples[i].targets)} for i in train_idx],
            labels=dataset.labels,
            epochs=args.epochs,
            seed=args.seed,
            encoder_lr=args.encoder_lr,
            head_lr=args.head_lr,
            progress=False,
        )
        few_shot = evaluate_set(tuned, test)
        rows.append(
            {
                "dataset": name,
                "train_examples": len(train_idx),
                "test_examples": len(test_idx),
                "zero_shot": zero_shot,
                "few_shot": few_shot,
                "finetune_seconds": time.time() - started,
            }
        )
        print(
            f"{name}: zero-shot {zero_shot['macro_f1']:.3f} -> {args.shots}-shot {few_shot['macro_f1']:.3f}", flush=True
        )
    print(f"\n| dataset | train | test | zero-shot macro-F1 | {args.shots}-shot macro-F1 |\n|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['dataset']} | {row['train_examples']} | {row['test_examples']} | "
            f"{row['zero_shot']['macro_f1']:.3f} | {row['few_shot']['macro_f1']:.3f} |"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"command": sys.argv, "settings": vars(args), "results": rows}, indent=2, default=str)
        )


if __name__ == "__main__":
    main()
