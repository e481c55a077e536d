"""The PPO objective for a classifier whose every candidate label is a Bernoulli action.

The policy chooses label `l` with probability `sigmoid(logit_l)`. A row's log-probability is the
sum over its judged labels; with a per-label reward each judged label is its own action. The
loss is the clipped surrogate, minus an entropy bonus, plus a KL penalty to a frozen reference
(the k3 estimator `r - 1 - log r`, `r = π_ref(a) / π(a)`, on the sampled actions).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def label_log_probs(logits: Tensor, actions: Tensor) -> Tensor:
    """`log π(a)` of each label's action (1 = chosen) under `sigmoid(logits)`."""
    return actions * F.logsigmoid(logits) + (1 - actions) * F.logsigmoid(-logits)


def bernoulli_entropy(logits: Tensor) -> Tensor:
    """Entropy (nats) of each label's Bernoulli distribution."""
    return F.softplus(logits) - logits * torch.sigmoid(logits)


def k3_kl(log_probs: Tensor, reference_log_probs: Tensor) -> Tensor:
    """k3 estimate of KL(π ‖ π_ref) from the log-probs of actions sampled from π (non-negative)."""
    log_ratio = reference_log_probs - log_probs
    return torch.expm1(log_ratio) - log_ratio


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of `values` where `mask` is set (0 when nothing is)."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1)


def row_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Per-row mean of `(rows, labels)` values over masked labels."""
    mask = mask.to(values.dtype)
    return (values * mask).sum(-1) / mask.sum(-1).clamp(min=1)


def normalise_advantages(advantages: Tensor, mask: Tensor) -> Tensor:
    """Zero mean, unit variance over the masked entries; other entries become 0."""
    mean = masked_mean(advantages, mask)
    std = masked_mean((advantages - mean) ** 2, mask).sqrt()
    return (advantages - mean) / (std + 1e-8) * mask


def unit_mask(judged: Tensor, per_label: bool) -> Tensor:
    """What one advantage belongs to: each judged label, or each row with a judged label."""
    return judged if per_label else judged.any(-1)


@dataclass
class PPOLoss:
    """The loss to minimise and its parts (the statistics are detached)."""

    total: Tensor
    policy: Tensor
    entropy: Tensor
    kl: Tensor
    clip_fraction: Tensor
    approx_kl: Tensor


def ppo_loss(
    logits: Tensor,
    reference_logits: Tensor,
    actions: Tensor,
    old_log_probs: Tensor,
    advantages: Tensor,
    judged: Tensor,
    label_mask: Tensor,
    clip_range: float,
    entropy_coef: float,
    kl_coef: float,
) -> PPOLoss:
    """Clipped-surrogate PPO loss for `(samples, labels)` tensors.

    `old_log_probs` are per label (from the rollout); `advantages` are `(samples,)` for a per-row
    reward or `(samples, labels)` for a per-label one. The entropy is averaged over judged labels
    (the bonus only where there is signal); the KL over every real candidate (`label_mask`), so
    unjudged labels stay close to the reference.
    """
    per_label = advantages.ndim == 2
    judged = judged & label_mask
    new = label_log_probs(logits, actions)
    if per_label:
        log_ratio = (new - old_log_probs) * judged
    else:
        log_ratio = ((new - old_log_probs) * judged).sum(-1)
    units = unit_mask(judged, per_label)
    ratio = torch.exp(log_ratio)
    surrogate = torch.minimum(ratio * advantages, torch.clamp(ratio, 1 - clip_range, 1 + clip_range) * advantages)
    policy = -masked_mean(surrogate, units)
    entropy = masked_mean(bernoulli_entropy(logits), judged)
    kl = masked_mean(k3_kl(new, label_log_probs(reference_logits, actions)), label_mask)
    total = policy - entropy_coef * entropy + kl_coef * kl
    with torch.no_grad():
        clip_fraction = masked_mean(((ratio - 1).abs() > clip_range).float(), units)
        approx_kl = masked_mean(torch.expm1(log_ratio) - log_ratio, units)
    return PPOLoss(total, policy.detach(), entropy.detach(), kl.detach(), clip_fraction, approx_kl)


class ValueHead(nn.Module):
    """Learned baseline: a label's expected reward from the (detached) text and label vectors.

    A small MLP on `[text_embeddings, label_embeddings]`, apart from the GLiClass model (never
    saved into its checkpoint). A row's value is the mean over its judged labels.
    """

    def __init__(self, dim: int, hidden: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2 * dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, text_embeddings: Tensor, label_embeddings: Tensor) -> Tensor:
        """Values `(rows, labels)`; no gradient reaches the classifier."""
        labels = label_embeddings.detach().float()
        text = text_embeddings.detach().float().unsqueeze(1).expand_as(labels)
        return self.net(torch.cat([text, labels], -1)).squeeze(-1)
