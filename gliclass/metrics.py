"""Classification metrics over label-name sets (macro/micro F1, accuracy, mean average precision)."""

from __future__ import annotations

from collections.abc import Sequence


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
    """Mean over texts of the average precision of the ranked labels against the gold set."""
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
