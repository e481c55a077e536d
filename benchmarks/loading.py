"""The labelled sets a benchmark runs on: local eval folders, or the hub datasets of a suite.

Local folders (`meta.json` + `test.jsonl`) are read by `gliclass.data.load_set`. A suite's hub
datasets are read through the `datasets` library, from the hub or, with `hub_dir`, from local
copies saved by `DatasetDict.save_to_disk` at `<hub_dir>/<hub id>` (`<hub_dir>/<hub id>/<config>`
for a dataset with a config), with the hub's splits, columns and label features; the parsing is
the same either way. Texts that are empty on the hub are dropped and counted; every other record
passes `gliclass.data.parse_record`.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gliclass.data import LabelledSet, eval_sets, parse_record
from gliclass.prompt import check_labels, has_visible_characters

from .data import REPO_ROOT, data_dir
from .suites import SUITES, HubDataset, label_name


@dataclass
class BenchmarkSet:
    """A labelled set and where it came from (recorded in the results)."""

    data: LabelledSet
    source: dict[str, Any]


def default_eval_dir() -> Path:
    """`<data>/eval`: the shared evaluation sets."""
    return data_dir() / "eval"


def local_sets(
    root: Path, names: list[str] | None = None, limit: int | None = None, seed: int = 0
) -> list[BenchmarkSet]:
    """Folders under `root` with `meta.json` and `test.jsonl` (all of them, or `names` in order)."""
    sets = []
    for data in eval_sets(root, names):
        data.examples = [data.examples[index] for index in sample_indices(len(data.examples), limit, seed, data.name)]
        path = os.path.relpath(root / data.name / "test.jsonl", REPO_ROOT)  # results name no machine's folders
        sets.append(BenchmarkSet(data, {"path": path}))
    return sets


def suite_sets(
    suite: str,
    names: list[str] | None = None,
    limit: int | None = None,
    seed: int = 0,
    cache_dir: str | None = None,
    hub_dir: Path | None = None,
) -> list[BenchmarkSet]:
    """The hub datasets of a named suite (all of them, or `names` in order): from the hub, or from `hub_dir`."""
    if suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}; choose from {sorted(SUITES)}.")
    specs = {spec.name: spec for spec in SUITES[suite]}
    unknown = [name for name in names or [] if name not in specs]
    if unknown:
        raise ValueError(f"unknown dataset(s) {unknown} in suite {suite!r}; available: {list(specs)}.")
    return [hub_set(specs[name], limit, seed, cache_dir, hub_dir) for name in names or specs]


def local_copy(hub_dir: Path, spec: HubDataset) -> Path:
    """Where `hub_dir` holds the `save_to_disk` copy of `spec`'s hub dataset."""
    folder = hub_dir / spec.hub_id
    return folder / spec.config if spec.config else folder


def hub_set(
    spec: HubDataset, limit: int | None = None, seed: int = 0, cache_dir: str | None = None, hub_dir: Path | None = None
) -> BenchmarkSet:
    """One hub dataset as a labelled set with natural-language label names."""
    import datasets

    source: dict[str, Any] = {"hub_id": spec.hub_id, "config": spec.config, "revision": spec.revision}
    if hub_dir is None:
        available = datasets.get_dataset_split_names(spec.hub_id, spec.config, revision=spec.revision)
    else:
        folder = local_copy(hub_dir, spec)
        if not (folder / "dataset_dict.json").is_file():
            raise FileNotFoundError(
                f"{spec.name}: no saved copy of {spec.hub_id} at {folder} (DatasetDict.save_to_disk)."
            )
        copy = datasets.load_from_disk(str(folder))
        available, source["local_copy"] = list(copy), str(folder)
    split = next((name for name in spec.splits if name in available), None)
    if split is None:
        raise ValueError(f"{spec.hub_id} has splits {available}, none of {list(spec.splits)}.")
    if hub_dir is None:
        table = datasets.load_dataset(
            spec.hub_id, spec.config, split=split, revision=spec.revision, cache_dir=cache_dir
        )
    else:
        table = copy[split]
    for column in (spec.text_column, spec.label_column):
        if column not in table.column_names:
            raise ValueError(f"{spec.hub_id} has no column {column!r}; it has {table.column_names}.")
    class_names = getattr(table.features[spec.label_column], "names", None)

    def raw_labels(value: Any) -> list[str]:
        values = value if isinstance(value, list) else [value]
        return [class_names[item] if class_names and isinstance(item, int) else str(item) for item in values]

    # the whole split's labels, before `limit` samples its rows: a sample is scored on the same task
    raw_candidates = class_names or sorted({label for value in table[spec.label_column] for label in raw_labels(value)})
    if limit is not None and limit < len(table):
        table = table.select(sample_indices(len(table), limit, seed, spec.name))
    rows = [(text, raw_labels(value)) for text, value in zip(table[spec.text_column], table[spec.label_column])]
    labels = check_labels([label_name(spec, raw) for raw in raw_candidates])
    known, examples = set(labels), []
    for index, (text, raw) in enumerate(rows):
        if text is not None and has_visible_characters(str(text)):
            record = {"text": str(text), "labels": [label_name(spec, label) for label in raw]}
            examples.append(parse_record(record, f"{spec.hub_id}[{split}][{index}]", known))
    source |= {
        "split": split,
        "text_column": spec.text_column,
        "label_column": spec.label_column,
        "dropped_empty_texts": len(rows) - len(examples),
    }
    return BenchmarkSet(LabelledSet(spec.name, examples, labels, spec.multi_label), source)


def sample_indices(count: int, limit: int | None, seed: int, name: str) -> list[int]:
    """At most `limit` of `range(count)`: a seeded sample (per dataset name) kept in the original order."""
    if limit is None or limit >= count:
        return list(range(count))
    return sorted(random.Random(f"{seed}:{name}").sample(range(count), limit))
