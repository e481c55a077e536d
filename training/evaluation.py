"""Scoring a model during training: a GLiClass model or pipeline, or a baseline, through `gliclass.evaluate`."""

from __future__ import annotations

import torch

from gliclass import GLiClassModel, ZeroShotMultilabelPipeline
from gliclass.data import LabelledSet
from gliclass.evaluation import evaluate, pipeline_scorer


def evaluate_set(
    model: torch.nn.Module | ZeroShotMultilabelPipeline,
    labelled: LabelledSet,
    threshold: float = 0.5,
    batch_size: int | None = None,
    device: torch.device | str | None = None,
    limit: int | None = None,
) -> dict[str, float]:
    """`gliclass.evaluate` on the first `limit` examples of `labelled` (all by default).

    `model` is a GLiClass model or pipeline, or any module with `score(texts, labels)` returning
    `(texts, labels)` probabilities (the baselines).
    """
    if isinstance(model, GLiClassModel):
        model = ZeroShotMultilabelPipeline(model=model, device=device)
    scorer = pipeline_scorer(model, batch_size) if isinstance(model, ZeroShotMultilabelPipeline) else model.score
    return evaluate(scorer, labelled, threshold, limit)
