"""Scoring a model on a labelled set: macro/micro-F1, accuracy, mean average precision."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from gliclass import GLiClassModel, ZeroShotMultilabelPipeline
from gliclass.pipeline import score_table
from gliclass.metrics import f1_scores, mean_average_precision

from .data import LabelledSet


def evaluate_set(
    model: torch.nn.Module | ZeroShotMultilabelPipeline,
    labelled: LabelledSet,
    threshold: float = 0.5,
    batch_size: int | None = None,
    device: torch.device | str | None = None,
    limit: int | None = None,
) -> dict[str, float]:
    """Single-label sets are predicted by argmax, multi-label sets by `threshold` on the scores.

    `model` is a GLiClass model or pipeline, or any module with `score(texts, labels)` returning
    `(texts, labels)` probabilities (the baselines).
    """
    examples = labelled.examples[:limit] if limit else labelled.examples
    texts = [example.text for example in examples]
    if isinstance(model, (GLiClassModel, ZeroShotMultilabelPipeline)):
        clf = model if isinstance(model, ZeroShotMultilabelPipeline) else ZeroShotMultilabelPipeline(model=model, device=device)
        scores = score_table(clf(texts, candidate_labels=labelled.labels, batch_size=batch_size), labelled.labels)
    else:
        scores = model.score(texts, labelled.labels)
    return metrics_from_scores(scores, labelled.labels, [list(e.targets) for e in examples], labelled.multi_label, threshold)


def metrics_from_scores(
    scores: torch.Tensor, labels: Sequence[str], gold: Sequence[Sequence[str]], multi_label: bool, threshold: float = 0.5
) -> dict[str, float]:
    """F1 scores (argmax or threshold) and mean average precision of a score table."""
    if multi_label:
        predicted = [[labels[i] for i in torch.nonzero(row >= threshold).flatten().tolist()] for row in scores]
    else:
        predicted = [[labels[int(row.argmax())]] for row in scores]
    ranked = [[labels[i] for i in row.argsort(descending=True).tolist()] for row in scores]
    metrics = f1_scores(gold, predicted)
    metrics["mean_average_precision"] = mean_average_precision(gold, ranked)
    return metrics
