"""Evaluation sets through the `datasets` library: local JSONL folders or hub datasets of a suite."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .data import LabelledSet, data_dir
from .suites import SUITES, HubDataset, label_name


@dataclass
class BenchmarkSet:
    """A labelled set and where it came from (recorded in the results)."""

    data: LabelledSet
    source: dict[str, Any]


def default_eval_dir() -> Path:
    return data_dir() / "eval"


def local_sets(root: Path, names: list[str] | None = None, limit: int | None = None, seed: int = 0,
               cache_dir: str | None = None) -> list[BenchmarkSet]:
    """Folders under `root` with `meta.json` and `test.jsonl` (all of them, or `names` in order)."""
    if not root.is_dir():
        raise FileNotFoundError(f"no evaluation data at {root}; pass --data-dir or set GLICLASS_DATA_DIR.")
    available = sorted(folder.name for folder in root.iterdir() if (folder / "meta.json").is_file())
    chosen = names or available
    unknown = [name for name in chosen if name not in available]
    if unknown:
        raise ValueError(f"unknown dataset(s) {unknown} in {root}; available: {available}.")
    return [_local_set(root / name, limit, seed, cache_dir) for name in chosen]


def suite_sets(suite: str, names: list[str] | None = None, limit: int | None = None, seed: int = 0,
               cache_dir: str | None = None) -> list[BenchmarkSet]:
    """The hub datasets of a named suite (all of them, or `names` in order); needs the hub."""
    if suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}; choose from {sorted(SUITES)}.")
    specs = {spec.name: spec for spec in SUITES[suite]}
    chosen = names or list(specs)
    unknown = [name for name in chosen if name not in specs]
    if unknown:
        raise ValueError(f"unknown dataset(s) {unknown} in suite {suite!r}; available: {list(specs)}.")
    return [hub_set(specs[name], limit, seed, cache_dir) for name in chosen]


def hub_set(spec: HubDataset, limit: int | None = None, seed: int = 0, cache_dir: str | None = None) -> BenchmarkSet:
    """One hub dataset as a labelled set with natural-language label names."""
    import datasets

    available = datasets.get_dataset_split_names(spec.hub_id, spec.config, revision=spec.revision)
    split = next((name for name in spec.splits if name in available), None)
    if split is None:
        raise ValueError(f"{spec.hub_id} has splits {available}, none of {list(spec.splits)}.")
    table = datasets.load_dataset(spec.hub_id, spec.config, split=split, revision=spec.revision, cache_dir=cache_dir)
    for column in (spec.text_column, spec.label_column):
        if column not in table.column_names:
            raise ValueError(f"{spec.hub_id} has no column {column!r}; it has {table.column_names}.")
    class_names = getattr(table.features[spec.label_column], "names", None)
    table = _sample(table, limit, seed, spec.name)

    def raw_labels(value: Any) -> list[str]:
        values = value if isinstance(value, list) else [value]
        return [class_names[item] if class_names and isinstance(item, int) else str(item) for item in values]

    rows = [(text, raw_labels(value)) for text, value in zip(table[spec.text_column], table[spec.label_column])]
    raw_candidates = class_names or sorted({label for _, labels in rows for label in labels})
    labels = [label_name(spec, raw) for raw in raw_candidates]
    texts, targets, dropped = _clean(rows, lambda raw: label_name(spec, raw))
    source = {"hub_id": spec.hub_id, "config": spec.config, "revision": spec.revision, "split": split,
              "text_column": spec.text_column, "label_column": spec.label_column, "dropped_empty_texts": dropped}
    return BenchmarkSet(LabelledSet(spec.name, labels, spec.multi_label, texts, targets), source)


def _local_set(folder: Path, limit: int | None, seed: int, cache_dir: str | None) -> BenchmarkSet:
    import datasets

    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    name = meta.get("name", folder.name)
    table = datasets.load_dataset("json", data_files=str(folder / "test.jsonl"), split="train", cache_dir=cache_dir)
    table = _sample(table, limit, seed, name)
    texts, targets, dropped = _clean(zip(table["text"], table["labels"]), str)
    labels = list(meta["labels"])
    stray = sorted({label for row in targets for label in row} - set(labels))
    if stray:
        raise ValueError(f"{folder}: gold labels {stray} are not in meta.json's labels.")
    source = {"path": str(folder / "test.jsonl"), "dropped_empty_texts": dropped}
    return BenchmarkSet(LabelledSet(name, labels, bool(meta.get("multi_label")), texts, targets), source)


def _sample(table: Any, limit: int | None, seed: int, name: str) -> Any:
    """At most `limit` rows, a seeded sample (per dataset name) kept in the original order."""
    if limit is None or limit >= len(table):
        return table
    indices = sorted(random.Random(f"{seed}:{name}").sample(range(len(table)), limit))
    return table.select(indices)


def _clean(rows: Any, rename: Any) -> tuple[list[str], list[list[str]], int]:
    texts, targets, dropped = [], [], 0
    for text, labels in rows:
        if text is None or not str(text).strip():
            dropped += 1
            continue
        texts.append(str(text))
        targets.append([rename(label) for label in labels])
    return texts, targets, dropped
