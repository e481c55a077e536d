"""Texts/s and peak memory from 1 to 10,000 candidate labels, and the label-cache targets.

    python -m benchmarks.label_scale [--labels 1,10,100,1000,10000] [--texts 64] [--repeats 3]
        [--threads 2] [--max-call-seconds 90] [--out benchmarks/results] [--name label_scale]

Systems, each in its own worker process (`benchmarks.label_scale_worker`, so that its peak RSS is
its own): the shipped default model through the pipeline with its label cache (label vectors
computed once per label, ahead of the timed calls; that one-off cost is reported apart) and
without it (`label_cache_size=0`: every call encodes every label), the plain all-MiniLM-L6-v2
embedding model (mean-pooled cosine, label vectors computed once), and an NLI-style cross-encoder
on the same backbone (random head, timing only: one pair per text and label). A pipeline call
ranks every label of every text (full result dicts); the baselines return a score table.

Texts are drawn from the eval sets, labels from `benchmarks.labels.label_pool` (real label names,
then numbered variants). Per label count: warm-up on 8 texts, then `--repeats` interleaved timed
calls on all texts (median, min–max of texts/s). A system whose call would take longer than
`--max-call-seconds` (estimated from its previous count, in proportion to the labels) is skipped
from there on, and the table says so. Then the latency target: 1 text with 5 and with 1,000
labels already seen, median of `--latency-repeats` calls.

Targets (issue 12): 1 text x 1,000 seen labels <= 5x a 5-label call; 64 texts x 10,000 labels >=
0.8x the embedding model's texts/s with precomputed label vectors.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gliclass.cli import run_command

from .arguments import positive_float, positive_int, some_counts
from .data import REPO_ROOT, sample_texts_and_labels
from .label_scale_worker import CACHED, CROSS_ENCODER, EMBEDDING, SYSTEMS, UNCACHED
from .labels import label_pool
from .loading import default_eval_dir
from .processes import MEMORY_METHOD, Worker, WorkerError
from .report import check_output, environment, markdown_table, new_run_folder, write_run

PROG = "python -m benchmarks.label_scale"
WARMUP_TEXTS = 8
GROWS_WITH_LABELS = (UNCACHED, CROSS_ENCODER)  # systems whose every call does work per label
PREPARED = (CACHED, EMBEDDING)  # systems that compute label vectors once
LATENCY_LABELS = (5, 1000)
TARGET_LATENCY_RATIO = 5.0
TARGET_SPEED_RATIO = 0.8


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", type=some_counts, default=(1, 10, 100, 1000, 10000), help="label counts")
    parser.add_argument("--texts", type=positive_int, default=64, help="texts per timed call (default 64)")
    parser.add_argument("--repeats", type=positive_int, default=3, help="interleaved timed calls per count (default 3)")
    parser.add_argument("--latency-repeats", type=positive_int, default=7, help="calls per latency cell (default 7)")
    parser.add_argument("--threads", type=positive_int, default=2, help="torch threads per system (default 2)")
    parser.add_argument("--batch-size", type=positive_int, default=32, help="rows per forward pass (default 32)")
    parser.add_argument(
        "--max-call-seconds",
        type=positive_float,
        default=90.0,
        help="skip a system once a call would take longer (default 90)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the texts and labels drawn (default 0)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: a new runs/benchmarks/...)")
    parser.add_argument("--name", default="label_scale", help="output file stem (default 'label_scale')")
    args = parser.parse_args(argv)
    return run_command(
        PROG, lambda: run(args, list(sys.argv[1:] if argv is None else argv)), (ValueError, OSError, WorkerError)
    )


def run(args: argparse.Namespace, argv: list[str]) -> int:
    check_output(args.out, "--out")
    eval_dir = default_eval_dir()
    texts, _ = sample_texts_and_labels(args.texts, seed=args.seed, root=eval_dir)
    pool = label_pool(max(max(args.labels), max(LATENCY_LABELS)), eval_dir, args.seed)
    workers = {
        name: Worker(name, [sys.executable, "-m", "benchmarks.label_scale_worker"], REPO_ROOT) for name in SYSTEMS
    }
    try:
        for name, worker in workers.items():
            worker.ask(
                {
                    "cmd": "load",
                    "system": name,
                    "threads": args.threads,
                    "batch_size": args.batch_size,
                    "seed": args.seed,
                }
            )
        rows = scale_rows(workers, texts, pool, args)
        latency = latency_rows({name: workers[name] for name in PREPARED}, texts[0], pool, args.latency_repeats)
    finally:
        for worker in workers.values():
            worker.close()
    payload = {
        "benchmark": "label_scale",
        "command": f"{PROG} {' '.join(argv)}",
        "settings": {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()}
        | {"memory_method": MEMORY_METHOD, "data_dir": str(eval_dir)},
        "environment": environment(),
        "results": rows,
        "latency": latency,
        "targets": targets(rows, latency, args.texts),
    }
    markdown = scale_markdown(payload)
    print(markdown)
    for path in write_run(args.out or new_run_folder(), args.name, markdown, payload):
        print(f"wrote {path}")
    return 0


def scale_rows(
    workers: dict[str, Worker], texts: list[str], pool: list[str], args: argparse.Namespace
) -> dict[str, list[dict[str, Any]]]:
    """`{system: [row per label count]}`; a row is timed, or says why it was skipped."""
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in workers}
    last: dict[str, tuple[int, float]] = {}  # system -> (labels, median seconds per call)
    for count in sorted(args.labels):
        labels = pool[:count]
        active = []
        for name, worker in workers.items():
            if name in GROWS_WITH_LABELS and name in last:
                done, seconds = last[name]
                estimate = seconds * count / done
                if estimate > args.max_call_seconds:
                    rows[name].append({"labels": count, "skipped": f"about {estimate:.0f} s per call"})
                    continue
            worker.reset_peak_memory()
            row: dict[str, Any] = {"labels": count}
            if name in PREPARED:
                row["label_vectors_seconds"] = worker.ask({"cmd": "prepare", "labels": labels})["seconds"]
            worker.ask({"cmd": "run", "texts": texts[:WARMUP_TEXTS], "labels": labels})
            active.append((name, row))
        times: dict[str, list[float]] = {name: [] for name, _ in active}
        for repeat in range(args.repeats):  # interleaved, the order rotating each round
            for offset in range(len(active)):
                name = active[(repeat + offset) % len(active)][0]
                times[name].append(workers[name].ask({"cmd": "run", "texts": texts, "labels": labels})["seconds"])
        for name, row in active:
            speeds = [len(texts) / seconds for seconds in times[name]]
            row |= {
                "seconds": [round(seconds, 4) for seconds in times[name]],
                "texts_per_second": {"median": statistics.median(speeds), "min": min(speeds), "max": max(speeds)},
                "peak_rss_mib": workers[name].peak_memory_mb(),
            }
            rows[name].append(row)
            last[name] = (count, statistics.median(times[name]))
            print(f"{name:<50} {count:>6} labels {row['texts_per_second']['median']:>9.1f} texts/s", file=sys.stderr)
    return rows


def latency_rows(workers: dict[str, Worker], text: str, pool: list[str], repeats: int) -> dict[str, dict[str, Any]]:
    """Seconds per call of one text with `LATENCY_LABELS` labels already seen (median of `repeats`)."""
    for worker in workers.values():
        for count in LATENCY_LABELS:
            worker.ask({"cmd": "prepare", "labels": pool[:count]})
            worker.ask({"cmd": "run", "texts": [text], "labels": pool[:count]})  # warm-up
    times: dict[str, dict[int, list[float]]] = {name: {count: [] for count in LATENCY_LABELS} for name in workers}
    for _ in range(repeats):
        for name, worker in workers.items():
            for count in LATENCY_LABELS:
                times[name][count].append(
                    worker.ask({"cmd": "run", "texts": [text], "labels": pool[:count]})["seconds"]
                )
    return {
        name: {str(count): statistics.median(values) for count, values in by_count.items()}
        for name, by_count in times.items()
    }


def targets(rows: dict[str, list[dict]], latency: dict[str, dict[str, float]], texts: int) -> dict[str, Any]:
    """The issue's two targets, measured side by side in this run."""
    few, many = (latency[CACHED][str(count)] for count in LATENCY_LABELS)
    result: dict[str, Any] = {
        "latency_ratio": {
            "value": many / few,
            "target": TARGET_LATENCY_RATIO,
            "met": many / few <= TARGET_LATENCY_RATIO,
        }
    }
    largest = max(row["labels"] for row in rows[CACHED])
    cached, embedding = (
        next(row for row in rows[name] if row["labels"] == largest)["texts_per_second"]["median"]
        for name in (CACHED, EMBEDDING)
    )
    result["speed_ratio"] = {
        "labels": largest,
        "texts": texts,
        "value": cached / embedding,
        "target": TARGET_SPEED_RATIO,
        "met": cached / embedding >= TARGET_SPEED_RATIO,
    }
    return result


def scale_markdown(payload: dict[str, Any]) -> str:
    """Tables of texts/s, peak memory and one-off label-vector seconds, then the targets."""
    settings, rows, target = payload["settings"], payload["results"], payload["targets"]
    counts = sorted({row["labels"] for system_rows in rows.values() for row in system_rows})
    by_count = {name: {row["labels"]: row for row in system_rows} for name, system_rows in rows.items()}

    def table(show, systems: Sequence[str]) -> str:
        body = [[f"{count:,}"] + [show(by_count[name].get(count)) for name in systems] for count in counts]
        return markdown_table(["labels"] + list(systems), body)

    def speed(row: dict | None) -> str:
        if row is None:
            return "–"
        if "skipped" in row:
            return f"skipped ({row['skipped']})"
        tps = row["texts_per_second"]
        return f"{tps['median']:.1f} ({tps['min']:.1f}–{tps['max']:.1f})"

    def memory(row: dict | None) -> str:
        if row is None or "skipped" in row or row["peak_rss_mib"] is None:
            return "–"
        return f"{row['peak_rss_mib']:.0f}"

    latency = payload["latency"]
    latency_rows = [
        [name] + [f"{latency[name][str(count)] * 1000:.1f}" for count in LATENCY_LABELS] for name in latency
    ]
    latency_ratio, speed_ratio = target["latency_ratio"], target["speed_ratio"]
    return "\n\n".join(
        [
            f"# Labels {min(counts):,} → {max(counts):,}\n\n`{payload['command']}`",
            f"{settings['texts']} texts per call (eval sets, seed {settings['seed']}), {settings['repeats']} "
            f"interleaved timed calls per count, batch size {settings['batch_size']}, torch threads "
            f"per system: {settings['threads']}, CPU. Texts/s: median (min–max). A pipeline call ranks every "
            "label of every text.",
            "### Texts per second\n\n" + table(speed, list(rows)),
            f"### Peak memory (MiB)\n\n{MEMORY_METHOD}; includes the label vectors computed for that count.\n\n"
            + table(memory, list(rows)),
            "### Label vectors computed once (seconds, not in texts/s)\n\n"
            + table(lambda row: f"{row['label_vectors_seconds']:.2f}" if row else "–", list(PREPARED)),
            "### One text, labels already seen (ms per call, median)\n\n"
            + markdown_table(["system"] + [f"{count:,} labels" for count in LATENCY_LABELS], latency_rows),
            "### Targets\n\n"
            f"- 1 text × 1,000 seen labels / 1 text × 5 labels (default model, cached): "
            f"{latency_ratio['value']:.2f}× (target ≤ {latency_ratio['target']:g}×: "
            f"{'met' if latency_ratio['met'] else 'missed'})\n"
            f"- {speed_ratio['texts']} texts × {speed_ratio['labels']:,} labels, default model cached / embedding "
            f"model: {speed_ratio['value']:.2f}× (target ≥ {speed_ratio['target']:g}×: "
            f"{'met' if speed_ratio['met'] else 'missed'})",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
