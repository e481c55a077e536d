"""The feedback page screenshot without selenium (a dev extra): a user error that says what to install."""

import sys
from pathlib import Path

import pytest

from training.feedback.screenshot import main


def test_screenshot_without_selenium_says_how_to_install(monkeypatch, tmp_path: Path) -> None:
    loaded = [name for name in sys.modules if name.startswith("selenium.")]  # e.g. by the browser test
    for name in ["selenium", *loaded]:  # as installed without the dev extra
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(OSError, match=r"pip install selenium"):
        main(["--model", "m", "--data", str(tmp_path), "--out", str(tmp_path / "shot.png")])
