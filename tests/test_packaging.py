"""What `pip install` puts on the path: `gliclass` and `gliclass_training`, no generic top-level names."""

import json
import subprocess
import sys

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
