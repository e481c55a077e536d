"""The order in which texts are asked about: by the model's uncertainty, at random, or as in the file.

`uncertain` asks first about the texts the model is least sure of. Without a threshold that is the
smallest margin between its two best labels (it cannot tell them apart); with one, the score nearest
the threshold (it cannot tell whether a label applies), ties broken by the margin.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

ORDERS = ("uncertain", "random", "file")


def uncertainty_key(scores: Sequence[float], threshold: float | None = None) -> tuple[float, ...]:
    """Sort key of one text's label scores: smaller means the model is less sure (ask it sooner)."""
    if not scores:
        raise ValueError("uncertainty needs at least one label score.")
    ordered = sorted(scores, reverse=True)
    margin = ordered[0] - ordered[1] if len(ordered) > 1 else abs(ordered[0] - 0.5)
    if threshold is None:
        return (margin,)
    return (min(abs(score - threshold) for score in scores), margin)


def asking_order(
    scores: Sequence[Sequence[float]], order: str = "uncertain", threshold: float | None = None, seed: int = 0
) -> list[int]:
    """The indices of the texts (rows of `scores`) in the order to ask about them.

    `uncertain`: least sure first (ties keep file order); `random`: a permutation fixed by `seed`;
    `file`: as given.
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {', '.join(ORDERS)}, got {order!r}.")
    indices = list(range(len(scores)))
    if order == "random":
        random.Random(seed).shuffle(indices)
    elif order == "uncertain":
        indices.sort(key=lambda index: uncertainty_key(scores[index], threshold))
    return indices
