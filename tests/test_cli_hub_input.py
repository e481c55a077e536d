"""`gliclass classify` with hub ids: offline, a made-up dataset id is one `error:` line; a resume
refuses a hub model whose repository changed."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from hub_cache import cached_hub_repository

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


def test_resuming_after_the_hub_model_changed_is_refused(tmp_path: Path) -> None:
    """A hub id names another model once its repository has a new commit: the lines written
    before it are not continued with the new one."""
    families = Path(__file__).parent / "fixtures" / "reference_families"
    cached_hub_repository(tmp_path / "hub", "someone/model", families / "deberta_v3_uni_encoder", revision="1" * 40)
    data, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    data.write_text('{"text": "the team won"}\n{"text": "parliament voted"}\n')
    command = [sys.executable, "-m", "gliclass", "classify", "--device", "cpu", "--labels", "sports,politics"]
    command += ["--model", "someone/model", "--input", str(data), "--output", str(out)]
    env = {**OFFLINE, "HF_HUB_CACHE": str(tmp_path / "hub")}
    assert subprocess.run(command, capture_output=True, env=env, timeout=120).returncode == 0
    first = out.read_text().splitlines()[0]
    out.write_text(first + "\n")  # as if killed after one line
    cached_hub_repository(tmp_path / "hub", "someone/model", families / "modernbert_uni_encoder", revision="2" * 40)
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2 and "other settings (model files changed)" in result.stderr
    assert out.read_text() == first + "\n"
