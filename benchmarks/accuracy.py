"""Zero-shot accuracy of each system on each labelled set: macro-F1 (headline), micro-F1, accuracy, mAP.

Single-label sets predict the top-scoring label; multi-label sets every label scoring at or above
the threshold, and also report the mean average precision of the full ranking.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

import torch

from gliclass.metrics import f1_scores, mean_average_precision

from .data import LabelledSet
from .loading import BenchmarkSet
from .report import markdown_table
from .systems import DEFAULT_TEMPLATE, SystemSpec, build_system

METRICS = ("macro_f1", "micro_f1", "accuracy", "mean_average_precision")


def evaluate(data: LabelledSet, scores: torch.Tensor, threshold: float = 0.5) -> dict[str, float]:
    """Metrics of one `(texts, labels)` score table against the gold labels."""
    if tuple(scores.shape) != (len(data.texts), len(data.labels)):
        raise ValueError(f"{data.name}: scores have shape {tuple(scores.shape)}, expected {(len(data.texts), len(data.labels))}.")
    order = torch.argsort(scores, dim=1, descending=True, stable=True).tolist()
    ranked = [[data.labels[index] for index in row] for row in order]
    if data.multi_label:
        predicted = [[data.labels[index] for index in (row >= threshold).nonzero().flatten().tolist()] for row in scores]
    else:
        predicted = [row[:1] for row in ranked]
    metrics = f1_scores(data.targets, predicted)
    if data.multi_label:
        metrics["mean_average_precision"] = mean_average_precision(data.targets, ranked)
    return metrics


def run_accuracy(sets: Sequence[BenchmarkSet], specs: Sequence[SystemSpec], threshold: float = 0.5,
                 device: str = "cpu", batch_size: int = 32, seed: int = 0, template: str = DEFAULT_TEMPLATE,
                 log: Any = print) -> dict[str, dict[str, dict[str, float]]]:
    """`{system name: {dataset name: metrics + seconds}}`, one system loaded at a time."""
    results: dict[str, dict[str, dict[str, float]]] = {}
    for spec in specs:
        torch.manual_seed(seed)
        system = build_system(spec, device=device, batch_size=batch_size, seed=seed, template=template)
        results[spec.name] = {}
        for item in sets:
            data = item.data
            start = time.perf_counter()
            scores = system.scores(data.texts, data.labels)
            seconds = time.perf_counter() - start
            metrics = evaluate(data, scores, threshold) | {"seconds": round(seconds, 3)}
            results[spec.name][data.name] = metrics
            log(f"{spec.name:<40} {data.name:<24} macro-F1 {metrics['macro_f1']:.3f}  ({len(data.texts)} texts, {seconds:.1f}s)")
        del system
    return results


def accuracy_markdown(sets: Sequence[BenchmarkSet], results: dict[str, dict[str, dict[str, float]]]) -> str:
    """One table per metric (datasets x systems, plus the mean); mAP only over multi-label sets."""
    systems = list(results)
    sections = []
    titles = {"macro_f1": "Macro-F1", "micro_f1": "Micro-F1", "accuracy": "Accuracy (exact match)",
              "mean_average_precision": "Mean average precision (multi-label sets)"}
    for metric in METRICS:
        names = [item.data.name for item in sets if metric != "mean_average_precision" or item.data.multi_label]
        if not names:
            continue
        rows = [[name] + [f"{results[system][name][metric]:.3f}" for system in systems] for name in names]
        means = [statistics.fmean(results[system][name][metric] for name in names) for system in systems]
        rows.append(["**mean**"] + [f"**{value:.3f}**" for value in means])
        single = [item.data.name for item in sets if not item.data.multi_label]
        if metric != "mean_average_precision" and 0 < len(single) < len(names):
            means = [statistics.fmean(results[system][name][metric] for name in single) for system in systems]
            rows.append(["**mean, single-label sets**"] + [f"**{value:.3f}**" for value in means])
        sections.append(f"### {titles[metric]}\n\n" + markdown_table(["dataset"] + systems, rows))
    return "\n\n".join(sections)


def mean_scores(sets: Sequence[BenchmarkSet], results: dict[str, dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """`{system: {metric: mean over the sets that have it}}`."""
    means: dict[str, dict[str, float]] = {}
    for system, per_set in results.items():
        means[system] = {}
        for metric in METRICS:
            values = [per_set[item.data.name][metric] for item in sets if metric in per_set[item.data.name]]
            if values:
                means[system][metric] = statistics.fmean(values)
    return means
