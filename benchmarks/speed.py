"""Throughput (texts/s) against the number of candidate labels, with peak memory, per system.

Every system runs in its own worker process on the same texts and the same label lists. For
each label count the systems are warmed up, then timed in `repeats` interleaved rounds (the
order rotates each round); we report the median and the spread (min/max) of texts/s. Timing is
end to end: tokenisation, forward passes and scoring. Embedding systems score against label
vectors computed once per label list and cached (that one-off cost is reported apart), which
is what makes 1,000 and 10,000 labels practical for them.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .processes import MEMORY_METHOD, Worker, check_reference_python
from .report import cpu_count, markdown_table
from .systems import DEFAULT_TEMPLATE, SystemSpec

LABEL_COUNTS = (1, 2, 4, 8, 16, 32, 64, 128)
EMBEDDING_LABEL_COUNTS = (1000, 10000)
WARMUP_TEXTS = 8


@dataclass
class SpeedSettings:
    """How the speed benchmark runs."""

    texts: int = 128
    label_counts: tuple[int, ...] = LABEL_COUNTS
    embedding_label_counts: tuple[int, ...] = EMBEDDING_LABEL_COUNTS
    repeats: int = 5
    threads: int = field(default_factory=cpu_count)
    batch_size: int = 32
    seed: int = 0
    device: str = "cpu"
    template: str = DEFAULT_TEMPLATE

    def __post_init__(self) -> None:
        counts = list(self.label_counts) + list(self.embedding_label_counts)
        if self.texts < 1 or self.repeats < 1 or self.threads < 1 or self.batch_size < 1:
            raise ValueError("texts, repeats, threads and batch size must be positive.")
        if not self.label_counts or any(count < 1 for count in counts):
            raise ValueError(f"label counts must be positive integers, got {counts}.")


@dataclass
class Participant:
    """One timed system and the label counts it runs at."""

    name: str
    kind: str
    model: str
    counts: tuple[int, ...]
    worker: Worker
    reference: bool = False


def run_speed(
    specs: Sequence[SystemSpec],
    texts: Sequence[str],
    pool: Sequence[str],
    settings: SpeedSettings,
    reference_python: str | None = None,
    reference_model: str | None = None,
    log: Any = print,
) -> dict[str, list[dict]]:
    """`{system name: [{labels, seconds, texts_per_second, peak_rss_mib, ...} per label count]}`."""
    participants = _start(specs, settings, reference_python, reference_model)
    try:
        for participant in participants:
            participant.worker.send(_load_command(participant, settings))
        for participant in participants:
            participant.worker.receive()
        results: dict[str, list[dict]] = {participant.name: [] for participant in participants}
        for count in sorted({count for participant in participants for count in participant.counts}):
            if count > len(pool):
                raise ValueError(f"{count} labels asked for, but the label pool has {len(pool)}.")
            labels = list(pool[:count])
            active = [participant for participant in participants if count in participant.counts]
            for participant, row in zip(active, _measure(active, list(texts), labels, settings.repeats)):
                results[participant.name].append(row)
                log(f"{participant.name:<45} {count:>6} labels  {row['texts_per_second']['median']:>9.1f} texts/s")
        return results
    finally:
        for participant in participants:
            participant.worker.close()


def _start(
    specs: Sequence[SystemSpec], settings: SpeedSettings, reference_python: str | None, reference_model: str | None
) -> list[Participant]:
    if reference_python and not reference_model:
        raise ValueError("--reference-python needs a saved GLiClass checkpoint: pass --system gliclass=PATH.")
    names = [spec.name for spec in specs] + (
        [f"reference {SystemSpec('gliclass', reference_model).name}"] if reference_python else []
    )
    if len(set(names)) != len(names):
        raise ValueError(f"two systems share a name: {names}; give each a different model.")
    if reference_python:
        check_reference_python(reference_python)
    participants = []
    for spec in specs:
        counts = settings.label_counts + (settings.embedding_label_counts if spec.kind == "embedding" else ())
        participants.append(Participant(spec.name, spec.kind, spec.model, tuple(counts), Worker.ours(spec.name)))
    if reference_python:
        name = names[-1]
        worker = Worker.reference(name, reference_python)
        participants.append(
            Participant(name, "gliclass", reference_model, settings.label_counts, worker, reference=True)
        )
    return participants


def _load_command(participant: Participant, settings: SpeedSettings) -> dict[str, Any]:
    command = {
        "cmd": "load",
        "model": participant.model,
        "threads": settings.threads,
        "batch_size": settings.batch_size,
    }
    if not participant.reference:
        command |= {
            "kind": participant.kind,
            "device": settings.device,
            "seed": settings.seed,
            "template": settings.template,
        }
    return command


def _measure(active: list[Participant], texts: list[str], labels: list[str], repeats: int) -> list[dict]:
    """Warm up, then time `repeats` interleaved rounds; one result row per participant."""
    extra: list[dict[str, Any]] = []
    for participant in active:
        row: dict[str, Any] = {}
        if participant.kind == "embedding":  # the only kind with label-only work to cache
            row["label_cache_seconds"] = participant.worker.ask({"cmd": "prepare", "labels": labels})["seconds"]
        participant.worker.ask({"cmd": "run", "texts": texts[:WARMUP_TEXTS], "labels": labels})
        row["peak_memory_reset"] = participant.worker.reset_peak_memory()
        extra.append(row)
    seconds: list[list[float]] = [[] for _ in active]
    for repeat in range(repeats):
        for offset in range(len(active)):
            slot = (repeat + offset) % len(active)
            seconds[slot].append(active[slot].worker.ask({"cmd": "run", "texts": texts, "labels": labels})["seconds"])
    rows = []
    for participant, times, row in zip(active, seconds, extra):
        speeds = [len(texts) / value for value in times]
        rows.append(
            {
                "labels": len(labels),
                "seconds": [round(value, 4) for value in times],
                "texts_per_second": {
                    "median": len(texts) / statistics.median(times),
                    "min": min(speeds),
                    "max": max(speeds),
                },
                "peak_rss_mib": participant.worker.peak_memory_mb(),
            }
            | row
        )
    return rows


def speed_markdown(results: dict[str, list[dict]], settings: SpeedSettings) -> str:
    """Texts/s (median, min-max) and peak RSS per label count, systems as columns."""
    systems = list(results)
    by_count = {name: {row["labels"]: row for row in rows} for name, rows in results.items()}
    counts = sorted({count for rows in by_count.values() for count in rows})

    def cell(name: str, count: int, show) -> str:
        row = by_count[name].get(count)
        return show(row) if row else "–"

    speed_rows = [[f"{count:,}"] + [cell(name, count, _speed_cell) for name in systems] for count in counts]
    memory_rows = [[f"{count:,}"] + [cell(name, count, _memory_cell) for name in systems] for count in counts]
    sections = [
        f"{settings.texts} texts, {settings.repeats} interleaved repeats, batch size {settings.batch_size}, "
        f"{settings.threads} threads, device {settings.device}. Texts/s: median (min–max).",
        "### Texts per second\n\n" + markdown_table(["labels"] + systems, speed_rows),
        f"### Peak memory (MiB)\n\n{MEMORY_METHOD}.\n\n" + markdown_table(["labels"] + systems, memory_rows),
    ]
    cached = [name for name in systems if any("label_cache_seconds" in row for row in results[name])]
    if cached:
        cache_rows = [
            [f"{count:,}"] + [cell(name, count, lambda row: f"{row['label_cache_seconds']:.2f}") for name in cached]
            for count in counts
        ]
        sections.append(
            "### Label vectors, computed once and cached (seconds, not in texts/s)\n\n"
            + markdown_table(["labels"] + cached, cache_rows)
        )
    return "\n\n".join(sections)


def settings_dict(settings: SpeedSettings) -> dict[str, Any]:
    return asdict(settings) | {"memory_method": MEMORY_METHOD}


def _speed_cell(row: dict) -> str:
    speed = row["texts_per_second"]
    return f"{speed['median']:.1f} ({speed['min']:.1f}–{speed['max']:.1f})"


def _memory_cell(row: dict) -> str:
    return "n/a" if row["peak_rss_mib"] is None else f"{row['peak_rss_mib']:.0f}"
