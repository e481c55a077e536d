"""Labelled sets: texts with their true labels, read from folders, JSONL files or `datasets`.

Formats read:
- a folder with `meta.json` (its `labels` are the dataset's label names) and `*.jsonl` files of
  `{"text", "labels": [...]}` (the shared-data format);
- a `.jsonl` file in that format (label list = every label seen) or in the reference GLiClass
  format `{"text", "all_labels", "true_labels"}`, `true_labels` a list or `{label: score}`; a file
  holding one JSON array of such records (the reference's training files) is read as well;
- a `datasets.Dataset` or hub id, with `text_column` / `label_column` / `label_names` options.

Every record is checked the same way (`parse_record`): a text the pipeline takes (`check_text`),
label lists that pass the pipeline's label checks, scores in [0, 1], true labels among the candidates. A mistake is a
`DataError` naming `FILE:LINE` (or `NAME[INDEX]`); a local path that does not exist is an `OSError`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import jsonl
from .checkpoint import looks_like_hub_id
from .prompt import check_labels, check_text


@dataclass
class Example:
    """One text with its true labels (`targets`: label → score in [0, 1]; 1 for hard labels).

    `candidates`, when set, fixes the labels shown with this example (reference format).
    """

    text: str
    targets: dict[str, float]
    candidates: list[str] | None = None

    @property
    def true_labels(self) -> list[str]:
        """The labels that apply: those scoring at least 0.5 (a 0 in a `{label: score}` map is a negative)."""
        return [label for label, score in self.targets.items() if score >= 0.5]


@dataclass
class LabelledSet:
    """A named list of examples, the set's label names, and how it is scored (and weighed in training)."""

    name: str
    examples: list[Example]
    labels: list[str]
    multi_label: bool = False
    weight: float = 1.0
    descriptions: dict[str, str] = field(default_factory=dict)

    @property
    def texts(self) -> list[str]:
        """The texts, in order."""
        return [example.text for example in self.examples]

    @property
    def gold(self) -> list[list[str]]:
        """The true labels of each text (`Example.true_labels`), in order."""
        return [example.true_labels for example in self.examples]


class DataError(ValueError):
    """A problem in a data file, located by file and line."""


def load_set(
    source: Any,
    name: str | None = None,
    weight: float = 1.0,
    split: str | None = None,
    text_column: str = "text",
    label_column: str = "labels",
    label_names: Sequence[str] | None = None,
) -> LabelledSet:
    """Read one labelled set from a folder, a JSONL file, a `datasets.Dataset` or a hub id.

    `split` picks `<split>.jsonl` in a folder (default: every `*.jsonl`) or a hub split (default
    `train`); the column options apply to datasets and hub ids only. `weight` (above 0): how many
    times per epoch training shows each example.
    """
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight <= 0:
        raise ValueError(f"weight must be a number above 0, got {weight!r}.")
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        return _load_folder(Path(source), name, weight, split)
    if isinstance(source, (str, Path)) and Path(source).is_file():
        examples = list(read_examples(Path(source)))
        if not examples:
            raise DataError(f"{source}: no examples.")
        return LabelledSet(name or Path(source).stem, examples, _labels_in(examples), _is_multi_label(examples), weight)
    if isinstance(source, Path) or (
        isinstance(source, str) and (source.endswith((".jsonl", ".json")) or not looks_like_hub_id(source))
    ):
        raise OSError(f"data path {source} does not exist.")
    return _load_dataset(source, name, weight, split or "train", text_column, label_column, label_names)


def eval_sets(root: Path, names: Sequence[str] | None = None, split: str = "test") -> list[LabelledSet]:
    """The `split` of every set folder (one with `meta.json`) under `root`, by name, or of `names` in order."""
    if not Path(root).is_dir():
        raise OSError(f"no evaluation data at {root}; pass the data folder or set GLICLASS_DATA_DIR.")
    available = sorted(folder.name for folder in Path(root).iterdir() if (folder / "meta.json").is_file())
    if not available:
        raise OSError(f"no evaluation sets (folders with a meta.json) in {root}.")
    unknown = [name for name in names or [] if name not in available]
    if unknown:
        raise ValueError(f"unknown dataset(s) {unknown} in {root}; available: {available}.")
    return [load_set(Path(root) / name, split=split) for name in names or available]


def read_examples(path: Path, known_labels: Sequence[str] | None = None) -> Iterator[Example]:
    """The examples of a JSONL file (or of a file holding one JSON array of records, as the reference's
    training data); true labels must be among `known_labels` when given."""
    known = set(known_labels) if known_labels is not None else None
    records = jsonl.read_json_array if jsonl.starts_json_array(path) else jsonl.read_jsonl
    for where, record in records(path, error=DataError):
        yield parse_record(record, where, known)


def parse_record(record: Any, where: str, known: set[str] | None = None) -> Example:
    """One `{"text", "labels"}` or `{"text", "all_labels", "true_labels"}` record, checked."""
    if not isinstance(record, dict):
        raise DataError(f"{where}: a record must be a JSON object.")
    text = record.get("text")
    if text is None:
        raise DataError(f"{where}: the record has no text.")
    checked_text(text, where)
    key = "true_labels" if "true_labels" in record else "labels"
    if key not in record:
        raise DataError(f"{where}: the record has no 'labels' (or 'true_labels').")
    candidates = _label_list(record.get("all_labels"), where, "all_labels") if key == "true_labels" else None
    raw_targets = record[key]
    if isinstance(raw_targets, dict):
        targets = {}
        for label, score in raw_targets.items():
            if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0 <= score <= 1:
                raise DataError(f"{where}: the score of label {label!r} must be a number in [0, 1].")
            targets[label] = float(score)
        _label_list(list(targets), where, key, allow_empty=True)
    else:
        targets = {label: 1.0 for label in _label_list(raw_targets, where, key, allow_empty=True)}
    for pool in (candidates, known):  # the record's own candidates, and the set's labels where known
        outside = [label for label in targets if pool is not None and label not in pool]
        if outside:
            raise DataError(f"{where}: true label {outside[0]!r} is not among the candidate labels.")
    return Example(text, targets, candidates)


def checked_text(text: Any, where: str) -> str:
    """`text` if the pipeline would take it (a string with visible characters, no reserved
    tokens, valid Unicode), else a `DataError` naming `where`."""
    try:
        return check_text(text, "the text")
    except (TypeError, ValueError) as error:
        raise DataError(f"{where}: {error}") from None


def _label_list(value: Any, where: str, key: str, allow_empty: bool = False) -> list[str]:
    if not isinstance(value, list):
        raise DataError(f"{where}: '{key}' must be a list of label names.")
    if not value and allow_empty:
        return []
    try:
        return check_labels(value)
    except (TypeError, ValueError) as error:
        raise DataError(f"{where}: '{key}': {error}") from error


def _load_folder(folder: Path, name: str | None, weight: float, split: str | None) -> LabelledSet:
    meta_path = folder / "meta.json"
    meta = _read_meta(meta_path) if meta_path.is_file() else {}
    labels = _label_list(meta["labels"], str(meta_path), "labels") if "labels" in meta else None
    files = [folder / f"{split}.jsonl"] if split else sorted(folder.glob("*.jsonl"))
    if not files or not all(path.is_file() for path in files):
        raise DataError(f"{folder}: no {f'{split}.jsonl' if split else '*.jsonl'} file.")
    examples = [example for path in files for example in read_examples(path, labels)]
    if not examples:
        raise DataError(f"{folder}: no examples.")
    multi_label = bool(meta.get("multi_label", _is_multi_label(examples)))
    descriptions = meta["descriptions"] if isinstance(meta.get("descriptions"), dict) else {}
    return LabelledSet(
        name or meta.get("name", folder.name),
        examples,
        labels or _labels_in(examples),
        multi_label,
        weight,
        descriptions,
    )


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(f"{path}: not valid JSON ({error}).") from None
    if not isinstance(meta, dict):
        raise DataError(f"{path}: must hold a JSON object with 'labels'.")
    if not isinstance(meta.get("multi_label", False), bool):
        raise DataError(f"{path}: 'multi_label' must be true or false.")
    return meta


def _load_dataset(
    source: Any,
    name: str | None,
    weight: float,
    split: str,
    text_column: str,
    label_column: str,
    label_names: Sequence[str] | None,
) -> LabelledSet:
    import datasets  # only needed for hub ids and Dataset objects

    dataset = datasets.load_dataset(source, split=split) if isinstance(source, str) else source
    if not isinstance(dataset, datasets.Dataset):
        raise TypeError(f"expected a datasets.Dataset, a folder or a JSONL file, got {type(source).__name__}.")
    names = list(label_names) if label_names else None
    feature = dataset.features.get(label_column)
    if names is None and feature is not None:
        inner = getattr(feature, "feature", feature)  # a Sequence/List of ClassLabel for multi-label columns
        names = list(getattr(inner, "names", []) or []) or None
    where = name or dataset.info.dataset_name or (source if isinstance(source, str) else "dataset")
    examples = []
    for index, record in enumerate(dataset):
        value = record[label_column]
        value = value if isinstance(value, list) else [value]
        labels = [names[item] if names and isinstance(item, int) else item for item in value]
        record = {"text": record[text_column], "labels": labels}
        examples.append(parse_record(record, f"{where}[{index}]", set(names) if names else None))
    if not examples:
        raise DataError(f"{where}: no examples.")
    return LabelledSet(where, examples, names or _labels_in(examples), _is_multi_label(examples), weight)


def _labels_in(examples: Sequence[Example]) -> list[str]:
    seen: dict[str, None] = {}
    for example in examples:
        for label in example.candidates or []:
            seen.setdefault(label)
        for label in example.targets:
            seen.setdefault(label)
    return list(seen)


def _is_multi_label(examples: Sequence[Example]) -> bool:
    return any(len(example.true_labels) > 1 for example in examples)
