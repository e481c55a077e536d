"""Label vectors kept across calls, for models that encode labels apart from the text.

A label's vector depends on its encoded form alone (token ids of `label` or `label: description`,
and the pooled length), so it is computed once and reused by every later call. The cache is a
bounded LRU; it empties itself when the model's weights, dtype or device change, or when the
precision mode changes. A lock guards it, so threads may share one pipeline.

A cache can be saved to one safetensors file (`save`) and loaded into another session (`load`):
the tensor `vectors` `(labels, dim)`, and in the header's metadata the format, the labels as JSON
(each label's encoded form: its text, token ids and pooled length) and a fingerprint of the model
and precision that made them. Loading refuses a file whose fingerprint differs, and recomputes a
few of its labels to check that this model still gives the stored vectors (so other weights are
refused, while a change that leaves label vectors alone, e.g. of the scoring head, is not).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from .copyable_lock import CopyableLock
from .labels_apart import LabelInput

DEFAULT_MAX_LABELS = 50_000  # about 75 MB of float32 vectors at 384 dimensions
FILE_FORMAT = "gliclass-label-vectors/1"
PROBE_LABELS = 4  # stored labels recomputed at load time
# largest relative difference |recomputed - stored| / |stored| accepted per precision (the rest: half precision)
PROBE_TOLERANCE = {"float32": 1e-4, "float64": 1e-4}
HALF_PROBE_TOLERANCE = 3e-2


class LabelVectorCache:
    """Bounded LRU `key -> vector`, invalidated by any change of `model`'s parameters; safe to use
    from several threads (each method holds the cache's lock)."""

    def __init__(self, model: nn.Module, max_labels: int = DEFAULT_MAX_LABELS) -> None:
        if isinstance(max_labels, bool) or not isinstance(max_labels, int) or max_labels < 0:
            raise ValueError(f"label_cache_size must be a non-negative integer, got {max_labels!r}.")
        self.model = model
        self.max_labels = max_labels
        self._vectors: OrderedDict[Hashable, torch.Tensor] = OrderedDict()
        self._state: tuple = ()
        self.hits = 0  # labels found in the cache
        self.misses = 0  # labels that had to be encoded
        self._lock = CopyableLock()  # reentrant: `load` stores while holding it

    def __len__(self) -> int:
        return len(self._vectors)

    def clear(self) -> None:
        """Forget every vector."""
        with self._lock:
            self._vectors.clear()

    def lookup(self, keys: list[Hashable], mode: Hashable = None) -> dict[Hashable, torch.Tensor]:
        """The cached vectors among `keys` (recently used ones move to the back); `mode` is
        anything else the vectors depend on (e.g. the precision), checked like the weights."""
        with self._lock:
            self._sync(mode)
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
        with self._lock:
            for key, vector in vectors.items():
                self._vectors[key] = vector.detach()
                self._vectors.move_to_end(key)
            while len(self._vectors) > self.max_labels:
                self._vectors.popitem(last=False)

    def save(self, path: str | Path, fingerprint: dict[str, Any], mode: Hashable = None) -> int:
        """Write every cached vector (least recently used first) to the safetensors file `path`
        with `fingerprint` (see `label_fingerprint`); returns how many were written. A `path` that
        cannot be written (a folder, no permission) is an `OSError`."""
        with self._lock:
            self._sync(mode)
            cached = list(self._vectors.items())
        if not cached:
            raise ValueError("no label vectors are cached; encode some first (pipeline.encode_labels(labels)).")
        labels = [label for label, _ in cached]
        if not all(isinstance(label, LabelInput) for label in labels):
            raise TypeError("only LabelInput keys can be saved.")
        metadata = {
            "format": FILE_FORMAT,
            "fingerprint": json.dumps(fingerprint, sort_keys=True),
            "labels": json.dumps(
                [{"text": x.text, "input_ids": list(x.input_ids), "pooled_length": x.pooled_length} for x in labels]
            ),
        }
        vectors = torch.stack([vector for _, vector in cached]).cpu().contiguous()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            save_file({"vectors": vectors}, str(path), metadata=metadata)
        except SafetensorError as error:  # a folder, no permission, a full disk: safetensors' own error type
            raise OSError(f"cannot write label vectors to {path} ({error}).") from None
        return len(labels)

    def load(
        self,
        path: str | Path,
        fingerprint: dict[str, Any],
        recompute: Callable[[list[LabelInput]], list[torch.Tensor]],
        token_ids: Callable[[list[str]], list[list[int]]],
        mode: Hashable = None,
    ) -> int:
        """Add the vectors saved in `path` (by `save`) to the cache; returns how many it holds now.

        Raises `OSError` when the file is missing or unreadable, and `ValueError` when it is not a
        label-vector file, when it was made by another model or precision (its fingerprint differs
        from `fingerprint`), when `token_ids` (this model's tokens of some labels) or `recompute`
        (their vectors) disagree with what the file stores for those labels, or when it holds more
        labels than the cache keeps."""
        labels, vectors, stored = read_label_vectors(path)
        check_fingerprint(path, stored, fingerprint)
        if len(labels) > self.max_labels:
            raise ValueError(
                f"{path} holds {len(labels):,} label vectors but this pipeline keeps at most {self.max_labels:,}; "
                "build it with a larger label_cache_size."
            )
        probes = probe_indices(len(labels))
        probed = [labels[index] for index in probes]
        for label, ids in zip(probed, token_ids([label.text for label in probed])):
            if tuple(ids) != label.input_ids:
                raise ValueError(
                    f"{path}: this model's tokenizer reads label {label.text!r} as other tokens than the file holds: "
                    "the vectors were made by another model."
                )
        recomputed = recompute(probed)
        tolerance = PROBE_TOLERANCE.get(fingerprint["precision"], HALF_PROBE_TOLERANCE)
        for index, fresh in zip(probes, recomputed):
            label, saved = labels[index], vectors[index].to(torch.float64)
            if fresh.shape != saved.shape:
                raise ValueError(
                    f"{path} holds vectors of shape {tuple(saved.shape)}, this model's are {tuple(fresh.shape)}: "
                    "they were made by another model."
                )
            difference = float((fresh.detach().cpu().to(torch.float64) - saved).norm() / saved.norm().clamp_min(1e-12))
            if difference > tolerance:
                raise ValueError(
                    f"{path}: the stored vector of label {label.text!r} differs from this model's by {difference:.1e} "
                    f"(relative; at most {tolerance:.0e} allowed): the vectors were made by other weights."
                )
        device = next(self.model.parameters()).device
        with self._lock:
            self._sync(mode)
            self.store({label: vector.to(device) for label, vector in zip(labels, vectors)})
            return len(self._vectors)

    def _sync(self, mode: Hashable) -> None:
        """Forget every vector when the weights or `mode` changed since the last use."""
        state = (mode, *self._weights_state())
        if state != self._state:
            self.clear()
            self._state = state

    def _weights_state(self) -> tuple:
        """Changes whenever a parameter is replaced, moved, cast or modified in place."""
        return tuple(
            (id(parameter), parameter._version, parameter.dtype, parameter.device)
            for parameter in self.model.parameters()
        )


def label_fingerprint(model: nn.Module, precision: str) -> dict[str, Any]:
    """The kind of model label vectors come from (architecture, encoder type) and the precision
    they are computed in (`float32`, `float16`, `bfloat16-autocast`, ...); the weights are checked
    by recomputing labels (see `LabelVectorCache.load`)."""
    config = model.config
    return {
        "architecture": config.architecture_type,
        "encoder": config.encoder_config.model_type,
        "precision": precision,
    }


def check_fingerprint(path: str | Path, stored: dict[str, Any], current: dict[str, Any]) -> None:
    """Raise `ValueError` naming what differs between a file's fingerprint and this pipeline's."""
    made_by, this = (f"{item.get('architecture')!r} on {item.get('encoder')!r}" for item in (stored, current))
    if made_by != this:
        raise ValueError(f"{path} was made by another model ({made_by}) than this pipeline's ({this}).")
    if stored.get("precision") != current["precision"]:
        raise ValueError(
            f"{path} holds vectors computed in {stored.get('precision')!r}; this pipeline computes "
            f"{current['precision']!r} (set the same dtype and fast mode as when they were saved)."
        )


def read_label_vectors(path: str | Path) -> tuple[list[LabelInput], torch.Tensor, dict[str, Any]]:
    """The labels, vectors `(labels, dim)` and fingerprint of a file written by `LabelVectorCache.save`."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, not a label-vector file.")
    if not path.is_file():
        raise FileNotFoundError(f"no label-vector file at {path}.")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            if metadata.get("format") != FILE_FORMAT or "vectors" not in handle.keys():
                raise ValueError(f"{path} is a safetensors file but not one of label vectors ({FILE_FORMAT}).")
            vectors = handle.get_tensor("vectors")
    except SafetensorError as error:
        raise ValueError(f"{path} is not a safetensors file of label vectors ({error}).") from None
    try:
        labels = [
            LabelInput(item["text"], tuple(item["input_ids"]), item["pooled_length"])
            for item in json.loads(metadata["labels"])
        ]
        fingerprint = json.loads(metadata["fingerprint"])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: damaged label list or fingerprint ({error}).") from None
    if vectors.dim() != 2 or len(vectors) != len(labels):
        raise ValueError(f"{path} holds {len(labels)} labels but vectors of shape {tuple(vectors.shape)}.")
    return labels, vectors, fingerprint


def probe_indices(count: int, probes: int = PROBE_LABELS) -> list[int]:
    """Up to `probes` indices spread evenly over `count` items, first and last included."""
    if count <= probes:
        return list(range(count))
    return sorted({round(step * (count - 1) / (probes - 1)) for step in range(probes)})
