"""Zero-shot accuracy of each system on each labelled set: macro-F1 (headline), micro-F1, accuracy, mAP.

Metrics from `gliclass.evaluation`: single-label sets predict the top-scoring label (a tie goes to
the label listed first); multi-label sets every label scoring at or above the threshold, and also
report the mean average precision of the full ranking.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

import torch

from gliclass.evaluation import metrics_from_scores

from .loading import BenchmarkSet
from .report import markdown_table
from .systems import DEFAULT_TEMPLATE, SystemSpec, build_system

METRICS = ("macro_f1", "micro_f1", "accuracy", "mean_average_precision")


def run_accuracy(
    sets: Sequence[BenchmarkSet],
    specs: Sequence[SystemSpec],
    threshold: float = 0.5,
    device: str = "cpu",
    batch_size: int = 32,
    seed: int = 0,
    template: str = DEFAULT_TEMPLATE,
    log: Any = print,
) -> dict[str, dict[str, dict[str, float]]]:
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
            metrics = metrics_from_scores(scores, data.labels, data.gold, data.multi_label, threshold)
            results[spec.name][data.name] = metrics | {"seconds": round(seconds, 3)}
            log(
                f"{spec.name:<40} {data.name:<24} macro-F1 {metrics['macro_f1']:.3f}  "
                f"({len(data.examples)} texts, {seconds:.1f}s)"
            )
        del system
    return results


def accuracy_markdown(sets: Sequence[BenchmarkSet], results: dict[str, dict[str, dict[str, float]]]) -> str:
    """One table per metric (datasets x systems, plus the mean); mAP only over multi-label sets."""
    systems = list(results)
    sections = []
    titles = {
        "macro_f1": "Macro-F1",
        "micro_f1": "Micro-F1",
        "accuracy": "Accuracy (exact match)",
        "mean_average_precision": "Mean average precision (multi-label sets)",
    }
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


def mean_scores(
    sets: Sequence[BenchmarkSet], results: dict[str, dict[str, dict[str, float]]]
) -> dict[str, dict[str, float]]:
    """`{system: {metric: mean over the sets that have it}}`."""
    means: dict[str, dict[str, float]] = {}
    for system, per_set in results.items():
        means[system] = {}
        for metric in METRICS:
            values = [per_set[item.data.name][metric] for item in sets if metric in per_set[item.data.name]]
            if values:
                means[system][metric] = statistics.fmean(values)
    return means
