"""Without the `ray` extra: the Ray command and `classify_dataset` say how to install it."""

import sys
from pathlib import Path

import pytest

from gliclass.ray_predictor import classify_dataset, main


def test_command_without_ray_is_one_error_line(monkeypatch, tmp_path: Path, capsys) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as installed without the ray extra
    (tmp_path / "in.jsonl").write_text('{"text": "hello"}\n')
    assert main(["--labels", "a,b", "--input", str(tmp_path / "in.jsonl"), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("python -m gliclass.ray_predictor: error: ")
    assert "pip install 'gliclass[ray]'" in err


def test_classify_dataset_without_ray_says_how_to_install(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(OSError, match=r"pip install 'gliclass\[ray\]'"):
        classify_dataset(str(tmp_path / "in.jsonl"), str(tmp_path / "o"), "a,b")
