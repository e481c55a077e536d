"""The feedback page screenshot without selenium (a dev extra): a user error that says what to install."""

import sys
from pathlib import Path

import pytest

from training.feedback.screenshot import main


def test_screenshot_without_selenium_says_how_to_install(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "selenium", None)  # as installed without the dev extra
    with pytest.raises(OSError, match=r"pip install selenium"):
        main(["--model", "m", "--data", str(tmp_path), "--out", str(tmp_path / "shot.png")])
