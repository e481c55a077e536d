"""Label vectors kept across calls, for models that encode labels apart from the text.

A label's vector depends on its encoded form alone (token ids of `label` or `label: description`,
and the pooled length), so it is computed once and reused by every later call. The cache is a
bounded LRU; it empties itself when the model's weights, dtype or device change, or when the
precision mode changes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

import torch
from torch import nn

DEFAULT_MAX_LABELS = 50_000  # about 75 MB of float32 vectors at 384 dimensions


class LabelVectorCache:
    """Bounded LRU `key -> vector`, invalidated by any change of `model`'s parameters."""

    def __init__(self, model: nn.Module, max_labels: int = DEFAULT_MAX_LABELS) -> None:
        if isinstance(max_labels, bool) or not isinstance(max_labels, int) or max_labels < 0:
            raise ValueError(f"label_cache_size must be a non-negative integer, got {max_labels!r}.")
        self.model = model
        self.max_labels = max_labels
        self._vectors: OrderedDict[Hashable, torch.Tensor] = OrderedDict()
        self._state: tuple = ()
        self.hits = 0  # labels found in the cache
        self.misses = 0  # labels that had to be encoded

    def __len__(self) -> int:
        return len(self._vectors)

    def clear(self) -> None:
        """Forget every vector."""
        self._vectors.clear()

    def lookup(self, keys: list[Hashable], mode: Hashable = None) -> dict[Hashable, torch.Tensor]:
        """The cached vectors among `keys` (recently used ones move to the back); `mode` is
        anything else the vectors depend on (e.g. the precision), checked like the weights."""
        state = (mode, *self._weights_state())
        if state != self._state:
            self.clear()
            self._state = state
        found = {}
        for key in keys:
            if key in self._vectors:
                self._vectors.move_to_end(key)
                found[key] = self._vectors[key]
        self.hits += len(found)
        self.misses += len(keys) - len(found)
        return found

    def store(self, vectors: dict[Hashable, torch.Tensor]) -> None:
        """Keep `vectors`, dropping the least recently used beyond `max_labels`."""
        if not self.max_labels:
            return
        for key, vector in vectors.items():
            self._vectors[key] = vector.detach()
            self._vectors.move_to_end(key)
        while len(self._vectors) > self.max_labels:
            self._vectors.popitem(last=False)

    def _weights_state(self) -> tuple:
        """Changes whenever a parameter is replaced, moved, cast or modified in place."""
        return tuple(
            (id(parameter), parameter._version, parameter.dtype, parameter.device)
            for parameter in self.model.parameters()
        )
