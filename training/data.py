"""Training data: reading labelled sets, and sampling candidate labels for zero-shot training.

Formats read:
- a folder with `meta.json` (its `labels` are the dataset's label names) and `*.jsonl` files of
  `{"text", "labels": [...]}` (our shared-data format);
- a `.jsonl` file in that format (label list = every label seen) or in the reference GLiClass
  format `{"text", "all_labels", "true_labels"}`, `true_labels` a list or `{label: score}`;
- a `datasets.Dataset` or hub id, with `text_column` / `label_column` options.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gliclass import jsonl
from gliclass.checkpoint import looks_like_hub_id
from gliclass.prompt import check_labels


@dataclass
class Example:
    """One text with its true labels (`targets`: label → score in [0, 1]; 1 for hard labels).

    `candidates`, when set, fixes the labels shown with this example (reference format).
    """

    text: str
    targets: dict[str, float]
    candidates: list[str] | None = None


@dataclass
class LabelledSet:
    name: str
    examples: list[Example]
    labels: list[str]
    multi_label: bool = False
    weight: float = 1.0
    descriptions: dict[str, str] = field(default_factory=dict)


class DataError(ValueError):
    """A problem in a data file, located by file and line."""


def load_set(source: Any, name: str | None = None, weight: float = 1.0, split: str | None = None, **columns: str) -> LabelledSet:
    """Read one labelled set from a folder, a JSONL file, a `datasets.Dataset` or a hub id."""
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        return _load_folder(Path(source), name, weight, split)
    if isinstance(source, (str, Path)) and Path(source).is_file():
        examples = list(read_jsonl(Path(source)))
        labels = _labels_in(examples)
        return LabelledSet(name or Path(source).stem, examples, labels, _is_multi_label(examples), weight)
    if isinstance(source, Path) or (isinstance(source, str) and not looks_like_hub_id(source)):
        raise OSError(f"data path {source} does not exist.")
    return _load_hf(source, name, weight, split or "train", **columns)


def read_jsonl(path: Path, known_labels: Sequence[str] | None = None) -> Iterable[Example]:
    """Examples of a JSONL file, with `file:line` in every error."""
    known = set(known_labels) if known_labels is not None else None
    for where, record in jsonl_records(path):
        yield parse_record(record, where, known)


def jsonl_records(path: Path) -> Iterator[tuple[str, Any]]:
    """`(file:line, decoded JSON)` for every non-empty line of a JSONL file."""
    return jsonl.read_jsonl(path, error=DataError)


def parse_record(record: Any, where: str, known: set[str] | None = None) -> Example:
    """One `{"text", "labels"}` or `{"text", "all_labels", "true_labels"}` record."""
    if not isinstance(record, dict):
        raise DataError(f"{where}: a record must be a JSON object.")
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"{where}: the record has no text.")
    candidates = None
    if "true_labels" in record:
        raw_targets = record["true_labels"]
        candidates = _label_list(record.get("all_labels"), where, "all_labels")
    elif "labels" in record:
        raw_targets = record["labels"]
    else:
        raise DataError(f"{where}: the record has no 'labels' (or 'true_labels').")
    if isinstance(raw_targets, dict):
        targets = {}
        for label, score in raw_targets.items():
            if not isinstance(score, (int, float)) or not 0 <= score <= 1:
                raise DataError(f"{where}: the score of label {label!r} must be a number in [0, 1].")
            targets[label] = float(score)
        _label_list(list(targets), where, "true_labels", allow_empty=True)
    else:
        targets = {label: 1.0 for label in _label_list(raw_targets, where, "labels", allow_empty=True)}
    pool = set(candidates) if candidates is not None else known
    if pool is not None:
        for label in targets:
            if label not in pool:
                raise DataError(f"{where}: true label {label!r} is not among the candidate labels.")
    return Example(text, targets, candidates)


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
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    labels = _label_list(meta["labels"], str(meta_path), "labels") if "labels" in meta else None
    files = [folder / f"{split}.jsonl"] if split else sorted(folder.glob("*.jsonl"))
    if not files or not all(path.is_file() for path in files):
        raise DataError(f"{folder}: no {'%s.jsonl' % split if split else '*.jsonl'} file.")
    examples = [example for path in files for example in read_jsonl(path, labels)]
    if not examples:
        raise DataError(f"{folder}: no examples.")
    multi_label = bool(meta.get("multi_label", _is_multi_label(examples)))
    descriptions = meta.get("descriptions", {}) if isinstance(meta.get("descriptions"), dict) else {}
    return LabelledSet(meta.get("name", folder.name), examples, labels or _labels_in(examples), multi_label, weight, descriptions)


def _load_hf(source: Any, name: str | None, weight: float, split: str, text_column: str = "text", label_column: str = "labels", label_names: Sequence[str] | None = None) -> LabelledSet:
    import datasets  # only needed for hub ids and Dataset objects

    dataset = datasets.load_dataset(source, split=split) if isinstance(source, str) else source
    if not isinstance(dataset, datasets.Dataset):
        raise TypeError(f"expected a datasets.Dataset, a folder or a JSONL file, got {type(source).__name__}.")
    feature = dataset.features.get(label_column)
    names = list(label_names) if label_names else None
    if names is None and feature is not None:
        inner = getattr(feature, "feature", feature)
        names = list(getattr(inner, "names", []) or []) or None
    examples = []
    for index, record in enumerate(dataset):
        value = record[label_column]
        value = value if isinstance(value, list) else [value]
        labels = [names[v] if names and isinstance(v, int) else v for v in value]
        examples.append(parse_record({"text": record[text_column], "labels": labels}, f"{name or source}[{index}]", set(names) if names else None))
    label_list = names or _labels_in(examples)
    return LabelledSet(name or str(getattr(dataset, "info", None) and dataset.info.dataset_name or source), examples, label_list, _is_multi_label(examples), weight)


def _labels_in(examples: Sequence[Example]) -> list[str]:
    seen: dict[str, None] = {}
    for example in examples:
        for label in example.candidates or []:
            seen.setdefault(label)
        for label in example.targets:
            seen.setdefault(label)
    return list(seen)


def _is_multi_label(examples: Sequence[Example]) -> bool:
    return any(len(example.targets) > 1 for example in examples)


@dataclass
class CandidateSampler:
    """Candidate labels for zero-shot training: true labels plus sampled negatives, shuffled.

    The number of labels per example varies in `[min_labels, max_labels]`; negatives come from the
    example's own dataset with probability `own_negative_share`, else from other datasets.
    With probability `drop_positives`, the true labels are left out (an example with no true
    label among its candidates is a valid, useful example for multi-label scoring).
    """

    max_labels: int = 20
    min_labels: int = 2
    own_negative_share: float = 0.7
    drop_positives: float = 0.05

    def sample(self, example: Example, own: Sequence[str], others: Sequence[str], rng: random.Random) -> tuple[list[str], list[float]]:
        if example.candidates is not None:
            labels = list(example.candidates)
            rng.shuffle(labels)
            return labels, [example.targets.get(label, 0.0) for label in labels]
        positives = list(example.targets)
        if len(positives) > self.max_labels - 1:
            positives = rng.sample(positives, self.max_labels - 1)
        if positives and rng.random() < self.drop_positives:
            excluded, positives = set(positives), []
        else:
            excluded = set(example.targets)
        total = rng.randint(max(self.min_labels, len(positives) + 1), self.max_labels)
        chosen = set(positives)
        negatives: list[str] = []
        attempts = 0
        while len(positives) + len(negatives) < total and attempts < total * 10:
            attempts += 1
            pool = own if (rng.random() < self.own_negative_share or not others) else others
            if not pool:
                break
            label = pool[rng.randrange(len(pool))]
            if label not in chosen and label not in excluded:
                chosen.add(label)
                negatives.append(label)
        labels = positives + negatives
        rng.shuffle(labels)
        return labels, [example.targets.get(label, 0.0) for label in labels]
