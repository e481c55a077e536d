"""Command-line argument types shared by the benchmark commands."""

from __future__ import annotations

import argparse
import math

from gliclass.options import check_device


def dataset_names(text: str) -> list[str]:
    """Comma-separated dataset names, at least one."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give at least one dataset name.")
    return names


def positive_int(text: str) -> int:
    """An integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}.")
    return value


def counts(text: str) -> tuple[int, ...]:
    """Comma-separated positive integers (none for an empty string)."""
    return tuple(positive_int(part) for part in text.split(",") if part.strip())


def some_counts(text: str) -> tuple[int, ...]:
    """Comma-separated positive integers, at least one."""
    values = counts(text)
    if not values:
        raise argparse.ArgumentTypeError("give at least one count.")
    return values


def seeds(text: str) -> tuple[int, ...]:
    """Comma-separated seeds, at least one: integers in [0, 2**32), as numpy and accelerate take them."""
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        values = ()
    if not values or not all(0 <= value < 2**32 for value in values):
        raise argparse.ArgumentTypeError(f"expected comma-separated integers from 0 to {2**32 - 1}, got {text!r}.")
    return values


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}.")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0."""
    value = _number(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}.")
    return value


def _number(text: str) -> float:
    """`text` as a float; NaN (refused by every check) where it is not a finite number."""
    try:
        value = float(text)
    except ValueError:
        return math.nan
    return value if math.isfinite(value) else math.nan


def device(text: str) -> str:
    """A torch device this machine has ("cpu", "cuda", "cuda:1", ...)."""
    try:
        check_device(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text
