"""Scoring a classifier on a labelled set: macro/micro-F1, exact-match accuracy, mean average precision.

A scorer is any callable mapping `(texts, labels)` to a `(texts, labels)` score tensor (higher =
more likely): `pipeline_scorer(pipeline)`, a baseline's `score`, a benchmark system's `scores`.

One rule for every caller: labels are ranked by score with ties kept in label order (a stable
sort), so a tie goes to the label listed first. Single-label sets predict the top-ranked label;
multi-label sets every label scoring at or above the threshold, and only they report the mean
average precision of the full ranking.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from .data import LabelledSet
from .options import check_batch_size, check_threshold
from .pipeline import ZeroShotMultilabelPipeline

Scorer = Callable[[list[str], list[str]], torch.Tensor]


def evaluate(
    scorer: Scorer, labelled: LabelledSet, threshold: float = 0.5, limit: int | None = None
) -> dict[str, float]:
    """The metrics of `scorer` on the first `limit` examples of `labelled` (all by default)."""
    examples = labelled.examples if limit is None else labelled.examples[: check_batch_size(limit, "limit")]
    scores = scorer([example.text for example in examples], list(labelled.labels))
    gold = [example.true_labels for example in examples]
    return metrics_from_scores(scores, labelled.labels, gold, labelled.multi_label, threshold)


def pipeline_scorer(pipeline: ZeroShotMultilabelPipeline, batch_size: int | None = None) -> Scorer:
    """A scorer from a GLiClass pipeline: its sigmoid scores as a `(texts, labels)` table."""

    def scores(texts: list[str], labels: list[str]) -> torch.Tensor:
        return pipeline.score_texts(texts, candidate_labels=labels, batch_size=batch_size)

    return scores


def metrics_from_scores(
    scores: torch.Tensor,
    labels: Sequence[str],
    gold: Sequence[Sequence[str]],
    multi_label: bool,
    threshold: float = 0.5,
) -> dict[str, float]:
    """F1 scores and accuracy (top label, or `threshold`), plus mAP for multi-label sets, of one score table."""
    if tuple(scores.shape) != (len(gold), len(labels)):
        raise ValueError(f"scores have shape {tuple(scores.shape)}, expected {(len(gold), len(labels))}.")
    if scores.isnan().any():
        row = scores.isnan().any(dim=1).nonzero()[0].item()
        raise ValueError(f"the scores of text {row} hold NaN, which has no place in a ranking.")
    threshold = check_threshold(threshold)
    order = torch.argsort(scores, dim=1, descending=True, stable=True).tolist()
    ranked = [[labels[index] for index in row] for row in order]
    if multi_label:
        predicted = [[labels[index] for index in (row >= threshold).nonzero().flatten().tolist()] for row in scores]
    else:
        predicted = [row[:1] for row in ranked]
    metrics = f1_scores(gold, predicted)
    if multi_label:
        metrics["mean_average_precision"] = mean_average_precision(gold, ranked)
    return metrics


def f1_scores(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> dict[str, float]:
    """Macro-F1 (over labels seen in gold or predictions), micro-F1 and exact-match accuracy."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold rows but {len(predicted)} predictions.")
    counts: dict[str, list[int]] = {}  # label -> [true positives, false positives, false negatives]
    exact = 0
    for gold_row, predicted_row in zip(gold, predicted):
        gold_set, predicted_set = set(gold_row), set(predicted_row)
        exact += gold_set == predicted_set
        for label in gold_set | predicted_set:
            entry = counts.setdefault(label, [0, 0, 0])
            entry[0] += label in gold_set and label in predicted_set
            entry[1] += label in predicted_set and label not in gold_set
            entry[2] += label in gold_set and label not in predicted_set
    per_label = [_f1(tp, fp, fn) for tp, fp, fn in counts.values()]
    total_tp, total_fp, total_fn = (sum(entry[i] for entry in counts.values()) for i in range(3))
    return {
        "macro_f1": sum(per_label) / len(per_label) if per_label else 0.0,
        "micro_f1": _f1(total_tp, total_fp, total_fn),
        "accuracy": exact / len(gold) if gold else 0.0,
    }


def mean_average_precision(gold: Sequence[Sequence[str]], ranked: Sequence[Sequence[str]]) -> float:
    """Mean over texts with gold labels of the average precision of the ranked labels."""
    values = []
    for gold_row, ranking in zip(gold, ranked):
        gold_set = set(gold_row)
        if not gold_set:
            continue
        hits, precision_sum = 0, 0.0
        for rank, label in enumerate(ranking, 1):
            if label in gold_set:
                hits += 1
                precision_sum += hits / rank
        values.append(precision_sum / len(gold_set))
    return sum(values) / len(values) if values else 0.0


def _f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0
