"""Shortlist + rerank against full joint scoring: speed, recall@K of the gold label, macro-F1.

    python -m benchmarks.shortlist [--banking-texts 100] [--taxonomy-texts 40] [--k 5,10,20]
        [--joint @default] [--isolated-layers 0] [--threads 2] [--out benchmarks/results]

Two tasks, single-label, prediction = each text's top label:
- banking77: the first `--banking-texts` texts of `eval/banking77`, its 77 labels;
- taxonomy: the first `--taxonomy-texts` texts of `train/clinc150/dev.jsonl` (gold: their clinc150
  intent) against `--taxonomy-size` labels: every label name of the `train/` sets (clinc150,
  debian-packages, reuters21578, nlupp_banking, ...), then seeded pairs "A and B" of two names of
  one other train set up to the size. Measuring only: nothing is tuned on these texts.

The joint model is `--joint` with `--isolated-layers` segment-isolated layers (default: the shipped
model's weights with full attention, `segment_isolated_layers=0`: a joint layout the weights were
not trained for, since no trained joint checkpoint is available offline). The shortlister is the
shipped model (labels apart); its label vectors are encoded once before timing (time reported).
Rows: the shortlister alone, the joint model over all labels, and joint + `shortlist=K` per K
(the shortlister's time included). Writes `shortlist.md`/`.json` to `--out` (default: a new
`runs/benchmarks/<date-time>/`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import gliclass
from gliclass import GLiClassModel
from gliclass.cli import run_command
from gliclass.data import load_set
from gliclass.evaluation import f1_scores

from .arguments import positive_int, some_counts
from .data import data_dir
from .report import check_output, environment, markdown_table, new_run_folder, write_run
from .systems import resolve_model

TAXONOMY_QUERY_SET = "clinc150"
PAIR_SEED = 13


@dataclass
class Task:
    """Texts with one gold label each, and the candidate labels they are scored against."""

    name: str
    texts: list[str]
    gold: list[str]
    labels: list[str]


def taxonomy_labels(train_dir: Path, size: int, seed: int = PAIR_SEED) -> list[str]:
    """Every label name of the train sets (sorted), then seeded pairs "A and B" of two names of one
    set other than the query set, until `size` labels."""
    per_set = {
        meta.parent.name: json.loads(meta.read_text(encoding="utf-8"))["labels"]
        for meta in sorted(train_dir.glob("*/meta.json"))
    }
    labels = sorted({name for names in per_set.values() for name in names})
    if size < len(labels):
        raise ValueError(f"--taxonomy-size {size} is below the {len(labels)} label names of {train_dir}.")
    sources = [sorted(names) for name, names in per_set.items() if name != TAXONOMY_QUERY_SET and len(names) >= 10]
    rng, seen = random.Random(seed), set(labels)
    while len(labels) < size:
        first, second = rng.sample(rng.choice(sources), 2)
        pair = f"{first} and {second}"
        if pair not in seen:
            labels.append(pair)
            seen.add(pair)
    return labels


def load_tasks(banking_texts: int, taxonomy_texts: int, taxonomy_size: int) -> list[Task]:
    root = data_dir()
    banking = load_set(root / "eval" / "banking77")
    queries = load_set(root / "train" / TAXONOMY_QUERY_SET / "dev.jsonl", name=TAXONOMY_QUERY_SET)
    tasks = [
        Task("banking77", banking.texts[:banking_texts], [g[0] for g in banking.gold[:banking_texts]], banking.labels),
        Task(
            f"taxonomy ({TAXONOMY_QUERY_SET} dev queries)",
            queries.texts[:taxonomy_texts],
            [g[0] for g in queries.gold[:taxonomy_texts]],
            taxonomy_labels(root / "train", taxonomy_size),
        ),
    ]
    for task in tasks:
        missing = sorted(set(task.gold) - set(task.labels))
        if missing:
            raise ValueError(f"{task.name}: gold labels missing from the candidates: {missing[:5]}")
    return tasks


def run_task(
    task: Task,
    joint: gliclass.ZeroShotMultilabelPipeline,
    shortlister: gliclass.ZeroShotMultilabelPipeline,
    ks: Sequence[int],
) -> dict[str, Any]:
    """Every row of one task: the shortlister alone, joint over all labels, joint + shortlist K."""
    shortlister.clear_label_cache()
    started = time.perf_counter()
    shortlister.encode_labels(task.labels)
    encode_seconds = time.perf_counter() - started
    joint(task.texts[:2], candidate_labels=task.labels[:8])  # warm-up
    started = time.perf_counter()
    scores = shortlister.score_texts(task.texts, candidate_labels=task.labels)
    seconds = time.perf_counter() - started
    order = torch.argsort(scores, dim=1, descending=True, stable=True)
    column = {label: index for index, label in enumerate(task.labels)}
    gold_rank = [(row == column[gold]).nonzero().item() for row, gold in zip(order, task.gold)]
    recall = {k: sum(rank < k for rank in gold_rank) / len(task.texts) for k in ks}
    rows = [_row("shortlister alone (labels apart)", task, [[task.labels[r[0]]] for r in order.tolist()], seconds)]
    rows[0]["recall_at_k"] = None
    for k in [None, *ks]:
        options = {} if k is None else {"shortlist": k}
        started = time.perf_counter()
        results = joint(task.texts, candidate_labels=task.labels, top_k=1, **options)
        seconds = time.perf_counter() - started
        name = "joint, all labels" if k is None else f"joint + shortlist K={k}"
        rows.append(_row(name, task, [result["labels"] for result in results], seconds))
        rows[-1]["recall_at_k"] = None if k is None else recall[k]
        rows[-1]["k"] = k
        print(f"{task.name}: {name}: {rows[-1]['texts_per_s']:.2f} texts/s", file=sys.stderr, flush=True)
    full = rows[1]["texts_per_s"]
    for row in rows:
        row["speedup_vs_joint"] = row["texts_per_s"] / full
    return {
        "task": task.name,
        "texts": len(task.texts),
        "labels": len(task.labels),
        "label_encoding_seconds": encode_seconds,
        "rows": rows,
    }


def _row(name: str, task: Task, predicted: list[list[str]], seconds: float) -> dict[str, Any]:
    metrics = f1_scores([[gold] for gold in task.gold], predicted)
    return {"scoring": name, "seconds": seconds, "texts_per_s": len(task.texts) / seconds, **metrics}


def markdown(results: list[dict[str, Any]], settings: dict[str, Any]) -> str:
    header = ["task (labels, texts)", "scoring", "texts/s", "× joint", "recall@K of gold", "macro-F1", "accuracy"]
    table = []
    for result in results:
        for row in result["rows"]:
            recall = "" if row["recall_at_k"] is None else f"{row['recall_at_k']:.3f}"
            table.append(
                [
                    f"{result['task']} ({result['labels']}, {result['texts']})",
                    row["scoring"],
                    f"{row['texts_per_s']:.2f}",
                    f"{row['speedup_vs_joint']:.1f}",
                    recall,
                    f"{row['macro_f1']:.3f}",
                    f"{row['accuracy']:.3f}",
                ]
            )
    load = settings["load_average_1min"]
    encoding = ", ".join(f"{r['task']}: {r['label_encoding_seconds']:.1f} s" for r in results)
    return "\n\n".join(
        [
            "# Shortlist + rerank vs full joint scoring",
            f"Command: `{settings['command']}`",
            f"Joint model: {settings['joint_model']}. Shortlister: the shipped default model (labels encoded "
            f"apart), its label vectors encoded once before timing ({encoding}). CPU, {settings['threads']} "
            "threads; one timed pass per row, in one run; texts/s includes the shortlister. Machine load "
            f"(1-min load average, this run's threads included) {load['start']:.1f} at the start, {load['end']:.1f} "
            "at the end: other jobs "
            "shared the CPUs, so absolute speeds are low and noisy; compare rows of one run.",
            markdown_table(header, table),
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--banking-texts", type=positive_int, default=100)
    parser.add_argument("--taxonomy-texts", type=positive_int, default=40)
    parser.add_argument("--taxonomy-size", type=positive_int, default=1000)
    parser.add_argument("--k", type=some_counts, default=(5, 10, 20), help="shortlist sizes, comma-separated")
    parser.add_argument("--joint", default="@default", help="the joint model (path or hub id; @default: shipped)")
    parser.add_argument(
        "--isolated-layers", type=int, default=0, help="segment_isolated_layers of the joint model (default 0)"
    )
    parser.add_argument("--threads", type=positive_int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    return run_command("python -m benchmarks.shortlist", lambda: run(args, argv))


def run(args: argparse.Namespace, argv: Sequence[str] | None) -> None:
    """Load the models and data, score both tasks, write the results."""
    check_output(args.out, "--out")
    ks = list(args.k)
    torch.set_num_threads(args.threads)
    model = GLiClassModel.from_pretrained(resolve_model(args.joint), segment_isolated_layers=args.isolated_layers)
    if model.encodes_labels_apart:
        raise ValueError("the joint model encodes labels apart; lower --isolated-layers.")
    shortlister = gliclass.pipeline(device="cpu")
    joint = gliclass.pipeline(model=model, device="cpu", shortlister=shortlister)
    depth = model.config.encoder_config.num_hidden_layers
    joint_model = (
        f"`{args.joint}` with segment_isolated_layers={args.isolated_layers} of {depth} "
        + ("(full attention)" if args.isolated_layers == 0 else f"(the top {depth - args.isolated_layers} joint)")
        + (
            ": the shipped weights in a joint layout they were not trained for (no trained joint checkpoint "
            "is available offline), so its accuracy is not that of a trained joint model"
            if args.joint == "@default"
            else ""
        )
    )
    command = "python -m benchmarks.shortlist " + " ".join(sys.argv[1:] if argv is None else argv)
    settings = {**vars(args), "out": str(args.out), "command": command, "joint_model": joint_model, "k": ks}
    load_before = os.getloadavg()[0]
    results = [
        run_task(task, joint, shortlister, ks)
        for task in load_tasks(args.banking_texts, args.taxonomy_texts, args.taxonomy_size)
    ]
    settings["load_average_1min"] = {"start": load_before, "end": os.getloadavg()[0]}
    text = markdown(results, settings)
    paths = write_run(
        args.out or new_run_folder(),
        "shortlist",
        text,
        {"settings": settings, "environment": environment(), "results": results},
    )
    print(text)
    print(f"written: {', '.join(map(str, paths))}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
