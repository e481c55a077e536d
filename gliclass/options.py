"""Checks of the pipeline's arguments: each bad value gets a `TypeError`/`ValueError` naming it."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .prompt import SPECIAL_TOKENS, check_labels, check_text

PREPROCESS_OPTIONS = ("candidate_labels", "prompt", "examples", "windows", "shortlist", "hypothesis_template")
POSTPROCESS_OPTIONS = ("multi_label", "threshold", "aggregation", "top_k", "transductive")
AGGREGATIONS = ("max", "mean")
HIERARCHY_SEPARATOR = "."  # between a group and its label in the reference's hierarchical labels


def check_device(device: int | str | torch.device | None) -> int | str | torch.device | None:
    """The device as transformers takes it (`"1"` becomes the index 1); `ValueError` for a device
    this machine does not have (`cuda` or an accelerator index without a GPU, ...).

    None: CUDA when available, else CPU; -1: CPU; an index N >= 0: accelerator N.
    """
    if isinstance(device, str) and device.strip().lstrip("-").isdigit():
        device = int(device)
    if device is None or device == -1:
        return device
    if isinstance(device, bool):
        raise ValueError(f"device must be a device name or index, got {device!r}.")
    if isinstance(device, int):
        if device < -1:
            raise ValueError(f"device index {device} is invalid; use -1 for the CPU or 0, 1, ... for a GPU.")
        if torch.cuda.is_available() or torch.backends.mps.is_available():
            return device
        raise ValueError(f"device {device} is not available: this machine has no GPU; use 'cpu' (or -1).")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"device {device!r} is not a device name such as 'cpu', 'cuda' or 'cuda:1'.") from error
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} is not available: this machine has no usable CUDA GPU; use 'cpu'.")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} is not available: {torch.cuda.device_count()} CUDA GPU(s) here.")
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {device!r} is not available on this machine; use 'cpu'.")
    return device


def check_batch_size(batch_size: Any, name: str = "batch_size") -> int:
    """A positive integer (numpy integers accepted)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"{name} must be a positive integer, got {batch_size!r}.")
    return int(batch_size)


def check_num_workers(num_workers: Any) -> int:
    """transformers' `num_workers`: an integer of at least 0 (numpy integers accepted)."""
    if isinstance(num_workers, bool) or not isinstance(num_workers, numbers.Integral) or num_workers < 0:
        raise ValueError(f"num_workers must be an integer of at least 0, got {num_workers!r}.")
    return int(num_workers)


def check_threshold(threshold: Any) -> float:
    """A number in [0, 1] (numpy scalars accepted) as a float."""
    if isinstance(threshold, (bool, np.bool_)) or not isinstance(threshold, numbers.Real):
        raise TypeError(f"threshold must be a number in [0, 1], got {threshold!r} ({type(threshold).__name__}).")
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be a number in [0, 1], got {threshold!r}.")
    return float(threshold)


def check_flag(name: str, value: Any) -> bool:
    """True or False (numpy booleans accepted)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__}).")
    return bool(value)


def check_hypothesis_template(template: Any) -> str:
    """A `hypothesis_template` as transformers' zero-shot-classification takes it: a string with one
    `{}` that each label fills (`"This example is {}."`)."""
    if not isinstance(template, str):
        raise TypeError(f"hypothesis_template must be a string, got {type(template).__name__}.")
    try:
        filled = template.format("label")
    except (IndexError, KeyError, ValueError) as error:
        raise ValueError(f"hypothesis_template {template!r} cannot be filled with a label: {error}") from None
    if filled == template:
        raise ValueError(f"hypothesis_template {template!r} has no '{{}}' for the label.")
    for token in SPECIAL_TOKENS:
        if token in template:
            raise ValueError(f"hypothesis_template {template!r} contains the reserved token {token}.")
    return template


def is_per_text(name: str, value: Any) -> bool:
    """Whether a `candidate_labels` or `prompt` value gives one entry per text."""
    if not isinstance(value, (list, tuple)) or not value:
        return False
    if name == "prompt":
        return True
    return all(isinstance(item, (list, tuple, dict)) for item in value)


def labels_per_text(candidate_labels: Any, count: int | None) -> list[tuple[list[str], dict[str, str]]]:
    """Label names and descriptions for each of `count` texts (one shared set, or one per text).

    With `count=None` the value is only checked.
    """
    if candidate_labels is None:
        raise ValueError("candidate_labels is required (at the call or at construction).")
    if is_per_text("candidate_labels", candidate_labels):
        if count is not None and len(candidate_labels) != count:
            raise ValueError(f"got {len(candidate_labels)} label lists for {count} texts.")
        return [names_and_descriptions(item) for item in candidate_labels]
    return [names_and_descriptions(candidate_labels)] * (count or 1)


def examples_label_set(labels: Any, targets: Sequence[Sequence[str]]) -> tuple[list[str], dict[str, str]]:
    """Names and descriptions of the one label set that labelled examples (`targets`: each one's
    labels) are scored with in `calibrate` and `finetune`: `labels` as the pipeline takes it, or (None)
    every label the examples name. `ValueError` for one set per text, no labels at all, or an
    example label outside the set."""
    if labels is None:
        labels = list(dict.fromkeys(label for row in targets for label in row))
        if not labels:
            raise ValueError("no labels: the examples name none and labels= is not given.")
    if is_per_text("candidate_labels", labels):
        raise ValueError("labels= is one label set for all examples (a list, 'a, b' or {label: description}).")
    names, descriptions = names_and_descriptions(labels)
    known = set(names)
    for number, row in enumerate(targets):
        missing = [label for label in row if label not in known]
        if missing:
            raise ValueError(f"example {number} has labels {missing} that are not in labels=.")
    return names, descriptions


def names_and_descriptions(candidate_labels: Any) -> tuple[list[str], dict[str, str]]:
    """One label set: a list, a comma-separated string, `{label: description or None}`, or the
    reference package's hierarchy `{group: [labels] or {subgroup: ...}}` (names `group.label`)."""
    if not isinstance(candidate_labels, dict):
        return check_labels(candidate_labels), {}
    if any(isinstance(value, (list, tuple, dict)) for value in candidate_labels.values()):
        return check_labels(flattened_hierarchy(candidate_labels)), {}
    names = check_labels(list(candidate_labels))
    descriptions = {}
    for name, description in candidate_labels.items():
        if description is not None:
            descriptions[name] = check_text(description, f"description of label {name!r}")
    return names, descriptions


def hierarchy_name(prefix: str, name: str, separator: str = HIERARCHY_SEPARATOR) -> str:
    """`name` under the group path `prefix` (`""`: top level), as the reference joins them."""
    return f"{prefix}{separator}{name}" if prefix else str(name)


def flattened_hierarchy(labels: Any, separator: str = HIERARCHY_SEPARATOR, prefix: str = "") -> list[str]:
    """Hierarchical labels `{group: [labels] or {subgroup: ...}}` as the reference names them: `group.label`."""
    if isinstance(labels, str):
        return [hierarchy_name(prefix, labels, separator)]
    if isinstance(labels, dict):
        return [
            name
            for group, members in labels.items()
            for name in flattened_hierarchy(members, separator, hierarchy_name(prefix, group, separator))
        ]
    if isinstance(labels, (list, tuple)):
        return [name for label in labels for name in flattened_hierarchy(label, separator, prefix)]
    raise TypeError(f"hierarchical labels hold names, lists and dicts, got {type(labels).__name__} under {prefix!r}.")


def prompts_per_text(prompt: str | Sequence[str] | None, count: int | None) -> list[str]:
    """The prompt of each of `count` texts (`""` when none); with `count=None` only checked."""
    if prompt is None:
        return [""] * (count or 1)
    prompts = [prompt] if isinstance(prompt, str) else prompt
    if not isinstance(prompts, (list, tuple)) or not all(isinstance(item, str) for item in prompts):
        raise TypeError("prompt must be a string or one string per text.")
    if not isinstance(prompt, str) and count is not None and len(prompts) != count:
        raise ValueError(f"got {len(prompts)} prompts for {count} texts.")
    for item in prompts:
        for token in SPECIAL_TOKENS:
            if token in item:
                raise ValueError(f"prompt {item!r} contains the reserved token {token}.")
    return [prompt] * (count or 1) if isinstance(prompt, str) else list(prompts)
