"""Reading the shared evaluation data (JSONL `{"text", "labels"}` plus `meta.json`) in place."""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """`$GLICLASS_DATA_DIR`, else `../shared/data` beside the repository."""
    return Path(os.environ.get("GLICLASS_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))


@dataclass
class LabelledSet:
    name: str
    labels: list[str]
    multi_label: bool
    texts: list[str]
    targets: list[list[str]]


def load_set(folder: Path, split: str = "test") -> LabelledSet:
    """One dataset folder: its label names from meta.json and the examples of `split`.jsonl."""
    meta = json.loads((folder / "meta.json").read_text())
    texts, targets = [], []
    with (folder / f"{split}.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                texts.append(record["text"])
                targets.append(list(record["labels"]))
    return LabelledSet(meta.get("name", folder.name), list(meta["labels"]), bool(meta.get("multi_label")), texts, targets)


def eval_sets(root: Path | None = None) -> list[LabelledSet]:
    """Every evaluation set under `<data>/eval`, sorted by name."""
    root = root or data_dir() / "eval"
    if not root.is_dir():
        raise FileNotFoundError(f"no evaluation data at {root}; set GLICLASS_DATA_DIR.")
    return [load_set(folder) for folder in sorted(root.iterdir()) if (folder / "meta.json").is_file()]


def sample_texts_and_labels(count: int, seed: int = 0, root: Path | None = None) -> tuple[list[str], list[str]]:
    """`count` texts drawn from all eval sets, and the union of their label names, both shuffled."""
    sets = eval_sets(root)
    rng = random.Random(seed)
    texts = [text for dataset in sets for text in dataset.texts]
    labels = sorted({label for dataset in sets for label in dataset.labels})
    rng.shuffle(labels)
    return rng.sample(texts, count), labels
