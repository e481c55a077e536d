"""Scores of every candidate label for a batch of texts, from a GLiClass model that may change on disk.

A model given as a folder is reloaded when its files change (for instance when a PPO run on the
feedback so far writes its result there), so a re-scored pool reflects the current model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

Score = Callable[[list[str]], list[list[float]]]


def folder_signature(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """(name, size, modification time) of every file in a folder: changes when the model is rewritten."""
    return tuple(
        sorted((path.name, path.stat().st_size, path.stat().st_mtime_ns) for path in folder.iterdir() if path.is_file())
    )


class ModelScorer:
    """`scorer(texts)` gives, for each text, the sigmoid score of every label (in `labels` order).

    `model` is a GLiClass model folder (reloaded when its files change) or a hub id (loaded once).
    """

    def __init__(self, model: str, labels: Sequence[str], device: str | None = None, batch_size: int = 32) -> None:
        self.model = model
        self.labels = list(labels)
        self.device = device or "cpu"
        self.batch_size = batch_size
        self._pipeline = None
        self._signature: tuple[tuple[str, int, int], ...] | None = None

    def _current_signature(self) -> tuple[tuple[str, int, int], ...] | None:
        folder = Path(self.model)
        return folder_signature(folder) if folder.is_dir() else None

    def _loaded(self):
        signature = self._current_signature()
        if self._pipeline is None or signature != self._signature:
            import gliclass

            self._pipeline = gliclass.pipeline(model=self.model, device=self.device)
            self._signature = signature
        return self._pipeline

    def __call__(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        scores = self._loaded().score_texts(texts, candidate_labels=self.labels, batch_size=self.batch_size)
        return scores.tolist()
