"""The speed plot: texts/s against the number of labels, log-log, one line per system."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_speed(payload: dict[str, Any], path: Path) -> Path:
    """Draw the `results` of a speed run (median, with min-max error bars) into a PNG at `path`."""
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError("the speed plot needs matplotlib: pip install matplotlib (or pass --no-plot).") from error
    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(7.5, 5))
    for name, rows in payload["results"].items():
        rows = sorted(rows, key=lambda row: row["labels"])
        counts = [row["labels"] for row in rows]
        median = [row["texts_per_second"]["median"] for row in rows]
        below = [m - row["texts_per_second"]["min"] for m, row in zip(median, rows)]
        above = [row["texts_per_second"]["max"] - m for m, row in zip(median, rows)]
        axes.errorbar(counts, median, yerr=[below, above], marker="o", markersize=4, capsize=3, label=name)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("candidate labels")
    axes.set_ylabel("texts per second (median, min–max)")
    settings = payload["settings"]
    axes.set_title(f"{settings['texts']} texts, {settings['threads']} threads, {settings['device']}", fontsize=10)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    pyplot.close(figure)
    return path
