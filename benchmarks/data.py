"""Where the shared evaluation data lives, and texts drawn from it for the speed benchmarks."""

from __future__ import annotations

import os
import random
from pathlib import Path

from gliclass.data import load_set

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """`$GLICLASS_DATA_DIR`, else `../shared/data` beside the repository."""
    return Path(os.environ.get("GLICLASS_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))


def sample_texts_and_labels(count: int, seed: int = 0, root: Path | None = None) -> tuple[list[str], list[str]]:
    """`count` texts drawn from all eval sets under `root` (default `<data>/eval`), and the union of
    their label names, both shuffled."""
    root = root or data_dir() / "eval"
    if not root.is_dir():
        raise FileNotFoundError(f"no evaluation data at {root}; set GLICLASS_DATA_DIR.")
    sets = [load_set(folder, split="test") for folder in sorted(root.iterdir()) if (folder / "meta.json").is_file()]
    rng = random.Random(seed)
    texts = [text for dataset in sets for text in dataset.texts]
    labels = sorted({label for dataset in sets for label in dataset.labels})
    rng.shuffle(labels)
    return rng.sample(texts, count), labels
