"""Where the shared evaluation data lives, and texts drawn from it for the speed benchmarks."""

from __future__ import annotations

import random
from pathlib import Path

from gliclass.data import LabelledSet, eval_sets, load_set
from training.fit_score_calibration import split_of
from training.recipe import config_data_dir

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """`$GLICLASS_DATA_DIR`, else `../shared/data` beside the repository (as for training)."""
    return config_data_dir({})


def sample_texts_and_labels(count: int, seed: int = 0, root: Path | None = None) -> tuple[list[str], list[str]]:
    """`count` texts drawn from all eval sets under `root` (default `<data>/eval`), and the union of
    their label names, both shuffled."""
    root = root or data_dir() / "eval"
    sets = eval_sets(root)
    rng = random.Random(seed)
    texts = [text for dataset in sets for text in dataset.texts]
    if count > len(texts):
        raise ValueError(f"--texts {count}: the eval sets under {root} hold {len(texts)} texts.")
    labels = sorted({label for dataset in sets for label in dataset.labels})
    rng.shuffle(labels)
    return rng.sample(texts, count), labels


def benchmark_set(name: str, split: str) -> LabelledSet:
    """`eval/NAME` (test split), or the texts of hash split `split` of `train/NAME`."""
    root = data_dir()
    if (root / "eval" / name).is_dir():
        if split != "B":
            raise ValueError(f"{name} is an eval set: settings are never chosen on eval sets.")
        return load_set(root / "eval" / name, split="test")
    if not (root / "train" / name).is_dir():
        raise ValueError(f"unknown dataset {name!r}: no eval/{name} or train/{name} in {root}.")
    return held_out_split(load_set(root / "train" / name, split="train"), name, split)


def held_out_split(labelled: LabelledSet, name: str, split: str = "B") -> LabelledSet:
    """Split A or B of a `train/` set (the hash split of `training.fit_score_calibration`)."""
    examples = [example for example in labelled.examples if split_of(example.text) == split]
    return LabelledSet(name, examples, labelled.labels, labelled.multi_label)
