"""Scoring a model on a labelled set with the pipeline: macro/micro-F1, accuracy, mAP."""

from __future__ import annotations

import torch

from gliclass import GLiClassModel, ZeroShotMultilabelPipeline
from gliclass.metrics import f1_scores, mean_average_precision

from .data import LabelledSet


def evaluate_set(
    model: GLiClassModel | ZeroShotMultilabelPipeline,
    labelled: LabelledSet,
    threshold: float = 0.5,
    batch_size: int | None = None,
    device: torch.device | str | None = None,
    limit: int | None = None,
) -> dict[str, float]:
    """Single-label sets are predicted by argmax, multi-label sets by `threshold` on sigmoid scores."""
    clf = model if isinstance(model, ZeroShotMultilabelPipeline) else ZeroShotMultilabelPipeline(model=model, device=device)
    examples = labelled.examples[:limit] if limit else labelled.examples
    texts = [example.text for example in examples]
    gold = [list(example.targets) for example in examples]
    results = clf(texts, candidate_labels=labelled.labels, batch_size=batch_size)
    if labelled.multi_label:
        predicted = [[l for l, s in zip(r["labels"], r["scores"]) if s >= threshold] for r in results]
    else:
        predicted = [r["labels"][:1] for r in results]
    metrics = f1_scores(gold, predicted)
    metrics["mean_average_precision"] = mean_average_precision(gold, [r["labels"] for r in results])
    return metrics
