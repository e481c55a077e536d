"""Shortlist + rerank: a model that encodes labels apart picks each text's K best candidate labels,
and the pipeline's own (joint) model scores only those.

A joint model reads every candidate label beside the text, so its cost grows with the label set;
a model whose labels never see the text encodes each label once (kept in its label cache) and each
text once, so it ranks thousands of labels for about the cost of one text. The pair scores a large
label set at the joint model's cost for K labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .copyable_lock import CopyableLock
from .model import GLiClassModel
from .options import check_batch_size

if TYPE_CHECKING:
    from .pipeline import ZeroShotMultilabelPipeline

LabelSet = tuple[list[str], dict[str, str]]  # label names and their descriptions, as `labels_per_text` gives them
NOT_APART = (
    "a shortlister must encode labels apart from the text (a fully segment-isolated model such as the "
    "shipped default model, or a bi-encoder); {what} encodes labels together with each text."
)


class Shortlister:
    """Picks the `k` best candidate labels of each text by the score of a model whose labels never
    see the text (its label vectors are cached across calls).

    Args:
        source: a `ZeroShotMultilabelPipeline` that encodes labels apart, a `GLiClassModel` that does
            (`encodes_labels_apart`, bi-encoders), or the path / hub id of one; None: the model
            shipped in the package, loaded on first use.
        device: where a model loaded here runs (a given pipeline keeps its own device).
    """

    def __init__(
        self,
        source: ZeroShotMultilabelPipeline | GLiClassModel | str | Path | None = None,
        device: int | str | torch.device | None = None,
    ) -> None:
        from .pipeline import ZeroShotMultilabelPipeline

        if source is not None and not isinstance(source, (str, Path, GLiClassModel, ZeroShotMultilabelPipeline)):
            raise TypeError(
                "shortlister must be a ZeroShotMultilabelPipeline, a GLiClassModel, a path or a hub id, "
                f"got {type(source).__name__}."
            )
        self.device = device
        self._pipeline: ZeroShotMultilabelPipeline | None = None
        self._loading = CopyableLock()  # threads sharing a pipeline load the default shortlister once
        if source is not None:  # a given shortlister is checked at once; the default one on first use
            self._pipeline = _labels_apart_pipeline(source, device)

    @property
    def pipeline(self) -> ZeroShotMultilabelPipeline:
        """The labels-apart pipeline that ranks the labels."""
        with self._loading:
            if self._pipeline is None:
                self._pipeline = _labels_apart_pipeline(None, self.device)
        return self._pipeline

    def __call__(
        self, texts: Sequence[str], label_sets: Sequence[LabelSet], k: int, windows: bool = False
    ) -> list[LabelSet]:
        """Each text's label set cut to its `k` best labels, kept in their original order (a tie
        goes to the label listed first); a set of at most `k` labels is kept whole, unscored."""
        k = check_batch_size(k, "shortlist")
        if len(texts) != len(label_sets):
            raise ValueError(f"got {len(label_sets)} label sets for {len(texts)} texts.")
        kept = list(label_sets)
        groups: dict[tuple[tuple[str, ...], tuple[tuple[str, str], ...]], list[int]] = {}
        for index, (names, descriptions) in enumerate(label_sets):
            if len(names) > k:
                groups.setdefault((tuple(names), tuple(sorted(descriptions.items()))), []).append(index)
        for indices in groups.values():
            names, descriptions = label_sets[indices[0]]
            candidates = {name: descriptions.get(name) for name in names} if descriptions else list(names)
            scores = self.pipeline.score_texts([texts[index] for index in indices], candidates, windows=windows)
            best = torch.argsort(scores, dim=1, descending=True, stable=True)[:, :k].sort(dim=1).values
            for index, columns in zip(indices, best.tolist()):
                chosen = [names[column] for column in columns]
                kept[index] = (chosen, {name: descriptions[name] for name in chosen if name in descriptions})
        return kept


def _labels_apart_pipeline(source: Any, device: int | str | torch.device | None) -> ZeroShotMultilabelPipeline:
    """A pipeline over `source` (None: the shipped model) that encodes labels apart, or a `ValueError`."""
    from .pipeline import ZeroShotMultilabelPipeline, pipeline

    if isinstance(source, ZeroShotMultilabelPipeline):
        if source.label_cache is None:
            raise ValueError(NOT_APART.format(what="the given pipeline"))
        return source
    model = source if isinstance(source, GLiClassModel) else None
    if isinstance(source, (str, Path)):
        model = GLiClassModel.from_pretrained(source)
    if model is not None and not (model.encodes_labels_apart or model.config.is_bi_encoder):
        raise ValueError(NOT_APART.format(what=f"the model {model.name_or_path or type(model).__name__!r}"))
    return pipeline(model=model, device=device)
