"""Scores that can be thresholded: the model's label-set calibration, per-label biases, and the
opt-in transductive re-centring of a bulk call.

Three layers, each on logits (a score is `sigmoid(logit)`):

1. `score_calibration` in the model's config (fitted once, shipped with the model): a cosine alone
   does not say whether a label applies, because the same cosine means different things among 2 or
   among 150 candidates. The calibrated logit is

       scale * z + log_softmax * log_softmax(z over the candidates) + log_num_labels * log(K) + bias

   where `z` are the model's logits of one text's K candidate labels. It is monotone in `z`
   within a text, so the ranking (and a single-label argmax) never changes.
2. `label_biases` in the model's config, fitted by `gliclass.calibrate` from a few labelled
   examples (`gliclass.label_biases`): one logit offset per label name, added wherever that label
   is a candidate.
3. `recentre()`: for one call over many texts, each label's mean logit over those texts is moved
   to the mean over all labels, so that a label that attracts every text loses its pull. It is
   never applied unless asked for (`transductive=True`), and needs at least two texts (a label
   that only one of them has is left as it is).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

SCORE_CALIBRATION_TERMS = ("scale", "log_softmax", "log_num_labels", "bias")
MIN_TRANSDUCTIVE_TEXTS = 2


def check_score_calibration(coefficients: Any) -> dict[str, float] | None:
    """Validate a config's `score_calibration` (None, or a coefficient for every term)."""
    if coefficients is None:
        return None
    if not isinstance(coefficients, Mapping) or set(coefficients) != set(SCORE_CALIBRATION_TERMS):
        raise ValueError(
            f"score_calibration must map each of {', '.join(SCORE_CALIBRATION_TERMS)} to a number, "
            f"got {coefficients!r}."
        )
    checked = {}
    for term in SCORE_CALIBRATION_TERMS:
        value = coefficients[term]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"score_calibration[{term!r}] must be a finite number, got {value!r}.")
        checked[term] = float(value)
    if checked["scale"] < 0 or checked["scale"] + checked["log_softmax"] <= 0:
        raise ValueError(
            "score_calibration must keep scores increasing in the logit (scale >= 0, scale + log_softmax > 0)."
        )
    return checked


def calibrated_logits(
    logits: torch.Tensor, label_mask: torch.Tensor, coefficients: Mapping[str, float]
) -> torch.Tensor:
    """Apply `score_calibration` to logits `(texts, labels)` whose real labels are `label_mask`."""
    mask = label_mask.bool()
    masked = logits.float().masked_fill(~mask, float("-inf"))
    log_softmax = torch.log_softmax(masked, dim=-1).masked_fill(~mask, 0.0)
    num_labels = mask.sum(dim=-1, keepdim=True).clamp(min=1).float()
    calibrated = (
        coefficients["scale"] * logits.float()
        + coefficients["log_softmax"] * log_softmax
        + coefficients["log_num_labels"] * num_labels.log()
        + coefficients["bias"]
    )
    return calibrated.to(logits.dtype)


def check_label_biases(biases: Any) -> dict[str, float]:
    """Validate a config's `label_biases` (`{label name: logit offset}`)."""
    if biases is None:
        return {}
    if not isinstance(biases, Mapping):
        raise ValueError(f"label_biases must map label names to numbers, got {type(biases).__name__}.")
    checked = {}
    for label, value in biases.items():
        if not isinstance(label, str) or isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"label_biases must map label names to numbers, got {label!r}: {value!r}.")
        if not math.isfinite(value):
            raise ValueError(f"label_biases[{label!r}] must be finite, got {value!r}.")
        checked[label] = float(value)
    return checked


def with_label_biases(logits: torch.Tensor, labels: Sequence[str], biases: Mapping[str, float]) -> torch.Tensor:
    """`logits` `(..., labels)` plus each label's bias (labels without one are unchanged)."""
    if not biases:
        return logits
    offsets = torch.tensor([biases.get(label, 0.0) for label in labels], dtype=logits.dtype)
    return logits + offsets


def recentre(logits: Sequence[torch.Tensor], labels: Sequence[Sequence[str]]) -> list[torch.Tensor]:
    """Transductive re-centring over one call's texts: each label's mean logit over the texts that
    have it becomes the mean logit of all (text, label) pairs. A label that only one text has keeps
    its logit (re-centred, it would lose all it says about that text)."""
    if len(logits) < MIN_TRANSDUCTIVE_TEXTS:
        raise ValueError(
            f"transductive=True re-centres scores over a call's texts and needs at least "
            f"{MIN_TRANSDUCTIVE_TEXTS}; this call has {len(logits)}."
        )
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for text_logits, text_labels in zip(logits, labels):
        for label, value in zip(text_labels, text_logits.tolist()):
            sums[label] = sums.get(label, 0.0) + value
            counts[label] = counts.get(label, 0) + 1
    overall = sum(sums.values()) / sum(counts.values())
    shift = {
        label: sums[label] / counts[label] - overall if counts[label] >= MIN_TRANSDUCTIVE_TEXTS else 0.0
        for label in sums
    }
    return [
        text_logits - torch.tensor([shift[label] for label in text_labels], dtype=text_logits.dtype)
        for text_logits, text_labels in zip(logits, labels)
    ]
