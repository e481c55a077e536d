"""Training losses over `(batch, labels)` logits with a mask of the real labels."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def sigmoid_focal_loss(
    logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor, alpha: float = 0.5, gamma: float = 2.0
) -> torch.Tensor:
    """Mean focal loss over the masked entries; `alpha < 0` and `gamma == 0` give plain BCE.

    `targets` may be soft (values in [0, 1]).
    """
    logits = logits.float()
    targets = targets.to(logits.dtype)
    loss = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    if gamma:
        probs = torch.sigmoid(logits)
        p_t = probs * targets + (1 - probs) * (1 - targets)
        loss = loss * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = loss * (alpha * targets + (1 - alpha) * (1 - targets))
    mask = mask.to(loss.dtype)
    return (loss * mask).sum() / mask.sum().clamp(min=1)


def masked_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over the real labels of each row, the target being the row's (soft) label vector.

    Rows whose targets are all zero (no true label among the candidates) are left out.
    """
    mask = mask.bool()
    log_probs = torch.log_softmax(logits.float().masked_fill(~mask, float("-inf")), dim=-1)
    targets = targets.float().masked_fill(~mask, 0)
    totals = targets.sum(-1)
    keep = totals > 0
    if not keep.any():
        return logits.sum() * 0.0
    per_row = -(log_probs.masked_fill(~mask, 0) * targets).sum(-1) / totals.clamp(min=1e-12)
    return per_row[keep].mean()
