"""`gliclass classify --input` with a hub dataset id: offline, a made-up id is one `error:` line."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

GLICLASS = shutil.which("gliclass", path=str(Path(sys.executable).parent)) or shutil.which("gliclass")
OFFLINE = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def classify_offline(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    command = [GLICLASS, "classify", "--device", "cpu", "--labels", "sports,politics", *args]
    return subprocess.run(command, capture_output=True, text=True, env=OFFLINE, cwd=cwd, timeout=120)


def test_unknown_hub_dataset_is_one_error_line(tmp_path: Path) -> None:
    result = classify_offline("--input", "made-up-owner/no-such-dataset", "--split", "test", cwd=tmp_path)
    assert result.returncode == 2 and not result.stdout
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("gliclass: error: --input made-up-owner/no-such-dataset is no local path")
    assert "hub dataset" in line


def test_missing_data_file_is_not_taken_for_a_hub_id(tmp_path: Path) -> None:
    for name in ("texts.jsonl", "texts.jsonl.gz"):
        result = classify_offline("--input", name, cwd=tmp_path)
        assert result.returncode == 2 and not result.stdout
        [line] = result.stderr.strip().splitlines()
        assert "does not exist" in line and "hub" not in line
