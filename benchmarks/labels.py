"""Deterministic candidate-label lists of any length for the speed benchmark."""

from __future__ import annotations

import json
import random
from pathlib import Path


def real_label_names(eval_dir: Path) -> list[str]:
    """Every label name in the `meta.json` files of `eval_dir` and of a `train` folder beside it, sorted."""
    names: set[str] = set()
    for root in (eval_dir, eval_dir.parent / "train"):
        for meta in root.glob("*/meta.json") if root.is_dir() else ():
            names.update(json.loads(meta.read_text(encoding="utf-8"))["labels"])
    return sorted(names)


def label_pool(count: int, eval_dir: Path, seed: int = 0) -> list[str]:
    """`count` distinct names: the real ones shuffled (seeded), then numbered variants (`sports 2`, ...).

    A shorter pool is always a prefix of a longer one with the same seed.
    """
    names = real_label_names(eval_dir)
    if not names:
        raise ValueError(f"no label names found under {eval_dir}.")
    random.Random(seed).shuffle(names)
    pool, seen, copy = list(names), set(names), 2
    while len(pool) < count:
        for name in names:
            variant = f"{name} {copy}"
            if len(pool) < count and variant not in seen:
                pool.append(variant)
                seen.add(variant)
        copy += 1
    return pool[:count]
