"""Per-label thresholds from a few labelled examples: `gliclass.calibrate(model_or_pipeline, examples)`.

The fitted offsets are stored in the model's config (`label_biases`, saved by `save_pretrained`)
and added by the pipeline to that label's logit wherever it is a candidate, so after calibration a
score of 0.5 is each label's own best threshold on the examples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from .model import GLiClassModel
from .options import examples_label_set
from .pipeline import ZeroShotMultilabelPipeline, pipeline
from .prompt import labelled_examples

MAX_BIAS = 8.0  # a label's offset (also summed over calls) stays within +-MAX_BIAS: never silenced for good


def calibrate(
    model_or_pipeline: GLiClassModel | ZeroShotMultilabelPipeline,
    examples: Sequence[dict[str, Any]],
    labels: Sequence[str] | Mapping[str, str | None] | None = None,
    *,
    few_shot_examples: Sequence[dict[str, Any]] | None = None,
    **call_options: Any,
) -> dict[str, float]:
    """Fit one logit offset per label from `{"text", "labels": [...]}` examples and store them in
    the model's config (`config.label_biases`, added to offsets fitted before, the sum kept within
    +-MAX_BIAS); returns the change made now to each fitted label's offset.

    `labels` are the candidate labels the examples are scored with, as the pipeline takes them (a
    list, "a, b" or `{label: description}`; default: every label named in the examples); an example
    with `"labels": []` is a negative for all of them. Each label's offset moves 0.5 to the threshold
    with the best F1 on its examples (the one nearest the current 0.5 among equals), so labels need
    positive examples to move. `call_options` (e.g. `prompt`; not `multi_label`, `threshold`, `top_k`
    or `shortlist`) are passed to the scoring call and should match how the pipeline will be called;
    `few_shot_examples` are the pipeline's `examples=` (few-shot examples given with every call),
    when it will be called with them.
    """
    pipe = model_or_pipeline
    if isinstance(model_or_pipeline, GLiClassModel):
        pipe = pipeline(model=model_or_pipeline)
    elif not isinstance(model_or_pipeline, ZeroShotMultilabelPipeline):
        raise TypeError(f"calibrate needs a GLiClassModel or its pipeline, got {type(model_or_pipeline).__name__}.")
    refused = sorted(set(call_options) & {"multi_label", "threshold", "top_k", "shortlist"})
    if refused:
        raise TypeError(
            f"calibrate fits thresholds of every label's independent (sigmoid) score; {', '.join(refused)} "
            "does not apply."
        )
    checked = labelled_examples(examples)
    texts, targets = [text for text, _ in checked], [named for _, named in checked]
    candidates, _ = examples_label_set(labels, targets)
    scores = pipe.score_texts(  # as the pipeline will score them: with any descriptions and few-shot examples
        texts, candidates if labels is None else labels, multi_label=True, examples=few_shot_examples, **call_options
    )
    logits = torch.logit(scores.double(), eps=1e-12)
    truth = torch.tensor([[label in row for label in candidates] for row in targets])
    offsets = fit_label_biases(logits, truth, candidates)
    config = pipe.model.config
    previous = config.label_biases
    merged = {label: _clipped(previous.get(label, 0.0) + offset) for label, offset in offsets.items()}
    config.label_biases = {**previous, **merged}
    return {label: merged[label] - previous.get(label, 0.0) for label in offsets}


def fit_label_biases(logits: torch.Tensor, truth: torch.Tensor, labels: Sequence[str]) -> dict[str, float]:
    """Per label (column), the logit offset that puts 0.5 at the F1-best threshold of `logits`
    `(examples, labels)` against boolean `truth`; labels without a positive example are left out.
    Thresholds are tried between the examples' values, never below the lowest: a label whose
    positives all score lowest stays as it is rather than being made to fire for every text."""
    offsets = {}
    for column, label in enumerate(labels):
        values, positives = logits[:, column], truth[:, column]
        if not positives.any():
            continue
        best_threshold, best_key = 0.0, None
        for threshold in _candidate_thresholds(values).tolist():
            predicted = values >= threshold
            f1 = 2 * (predicted & positives).sum().item() / (predicted.sum().item() + positives.sum().item())
            key = (round(f1, 9), -abs(threshold))
            if best_key is None or key > best_key:
                best_threshold, best_key = threshold, key
        offsets[label] = _clipped(-best_threshold)
    return offsets


def _clipped(offset: float) -> float:
    """`offset` within +-MAX_BIAS (+ 0.0: never -0.0)."""
    return max(-MAX_BIAS, min(MAX_BIAS, offset)) + 0.0


def _candidate_thresholds(values: torch.Tensor) -> torch.Tensor:
    """0 (no change), and the midpoints between consecutive distinct values."""
    distinct = torch.unique(values)
    return torch.cat([torch.zeros(1, dtype=values.dtype), (distinct[1:] + distinct[:-1]) / 2])
