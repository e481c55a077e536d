"""The label-scale benchmark's targets and tables (the timing itself runs in `python -m benchmarks.label_scale`)."""

import pytest

from benchmarks.label_scale import main, scale_markdown, targets
from benchmarks.label_scale_worker import CACHED, CROSS_ENCODER, EMBEDDING, UNCACHED


def _row(labels: int, texts_per_second: float) -> dict:
    speed = {"median": texts_per_second, "min": texts_per_second - 1, "max": texts_per_second + 1}
    return {"labels": labels, "texts_per_second": speed, "peak_rss_mib": 500.0, "label_vectors_seconds": 0.5}


def test_targets_compare_side_by_side_numbers_and_tables_show_skips():
    rows = {
        CACHED: [_row(10, 80.0), _row(10000, 60.0)],
        UNCACHED: [_row(10, 20.0), {"labels": 10000, "skipped": "about 300 s per call"}],
        EMBEDDING: [_row(10, 90.0), _row(10000, 100.0)],
        CROSS_ENCODER: [_row(10, 5.0), {"labels": 10000, "skipped": "about 900 s per call"}],
    }
    latency = {CACHED: {"5": 0.010, "1000": 0.060}, EMBEDDING: {"5": 0.008, "1000": 0.009}}
    result = targets(rows, latency, texts=64)
    assert result["latency_ratio"]["value"] == pytest.approx(6.0) and not result["latency_ratio"]["met"]
    assert result["speed_ratio"]["value"] == pytest.approx(0.6) and not result["speed_ratio"]["met"]
    settings = {"texts": 64, "seed": 0, "repeats": 3, "batch_size": 32, "threads": 1}
    markdown = scale_markdown(
        {"command": "python -m benchmarks.label_scale", "settings": settings, "results": rows}
        | {"latency": latency, "targets": result}
    )
    assert "skipped (about 300 s per call)" in markdown
    assert "| 10,000 | 60.0 (59.0–61.0) |" in markdown
    assert "6.00× (target ≤ 5×: missed)" in markdown and "0.60× (target ≥ 0.8×: missed)" in markdown


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--labels", "10,zero"], "expected a positive integer, got 'zero'"),
        (["--max-call-seconds", "-5"], "expected a number > 0, got '-5'"),
        (["--max-call-seconds", "nan"], "expected a number > 0, got 'nan'"),
    ],
)
def test_bad_arguments_are_a_usage_error(argv, message, capsys):
    with pytest.raises(SystemExit):
        main(argv)
    assert message in capsys.readouterr().err
