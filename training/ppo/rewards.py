"""Reward functions for PPO: how good a set of chosen labels is.

Every reward has the signature

    reward(texts, labels, actions, probs, targets, mask) -> tensor

`texts` (rows), `labels` (the candidate names of each row), and `(rows, labels)` tensors padded to
the longest row: `actions` (1 = the label is chosen), `probs` (the policy's probabilities),
`targets` (1 = true / accepted, 0 = false / rejected) and `mask` (bool: the label is *judged*,
i.e. its target is known). Only judged labels may carry signal: a reward must not look at the
action of an unjudged label. With full labels every candidate is judged; with feedback only the
labels a person accepted or rejected are.

A reward returns either one number per row, `(rows,)` (the row's log-probability is the sum over
its judged labels), or one number per label, `(rows, labels)` (each judged label is its own
action with its own advantage; unjudged entries must be 0).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

Texts = Sequence[str]
Labels = Sequence[Sequence[str]]
Reward = Callable[[Texts, Labels, Tensor, Tensor, Tensor, Tensor], Tensor]
UserReward = Callable[[Texts, Labels, Tensor, Tensor], object]


def f1_reward(texts: Texts, labels: Labels, actions: Tensor, probs: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
    """Per-row F1 of the chosen labels against the targets, over judged labels; 1 when both are empty."""
    chosen, true = actions * mask, targets * mask
    true_positives = (chosen * true).sum(-1)
    denominator = chosen.sum(-1) + true.sum(-1)
    return torch.where(denominator > 0, 2 * true_positives / denominator.clamp(min=1e-12), torch.ones_like(denominator))


def accuracy_reward(
    texts: Texts, labels: Labels, actions: Tensor, probs: Tensor, targets: Tensor, mask: Tensor
) -> Tensor:
    """Per-row share of judged labels decided correctly (0 for a row with no judged label)."""
    correct = ((actions == targets) & mask).sum(-1).float()
    return correct / mask.sum(-1).clamp(min=1)


@dataclass(frozen=True)
class RecallWeightedReward:
    """Per-label reward: ±`positive_weight` for keeping/missing a true label, ±1 for a false one."""

    positive_weight: float

    def __call__(
        self, texts: Texts, labels: Labels, actions: Tensor, probs: Tensor, targets: Tensor, mask: Tensor
    ) -> Tensor:
        sign = torch.where(actions == targets, 1.0, -1.0)
        weight = torch.where(targets > 0, self.positive_weight, 1.0)
        return sign * weight * mask


def recall_weighted_reward(positive_weight: float) -> Reward:
    """Per-label reward: ±`positive_weight` for keeping/missing a true label, ±1 for a false one.

    A weight above 1 makes missing a true label costlier than a false alarm (multi-label sets,
    where most candidates are false, otherwise teach the policy to choose nothing).
    """
    if not (math.isfinite(positive_weight) and positive_weight > 0):
        raise ValueError(f"positive_weight must be a positive finite number, got {positive_weight!r}.")
    return RecallWeightedReward(positive_weight)


def feedback_reward(
    texts: Texts, labels: Labels, actions: Tensor, probs: Tensor, targets: Tensor, mask: Tensor
) -> Tensor:
    """Per-label reward for feedback: accepted → +1 if chosen, −1 if not; rejected the opposite; unjudged 0."""
    return torch.where(actions == targets, 1.0, -1.0) * mask


def callable_reward(function: UserReward) -> Reward:
    """Wrap `function(texts, labels, actions, probs) -> (rows,) or (rows, labels)` as a reward.

    The function sees no targets; per-label values count only where `mask` is set (with full
    labels, every real candidate; padding columns never count).
    """
    if not callable(function):
        raise TypeError(f"the reward must be callable, got {type(function).__name__}.")

    def reward(texts: Texts, labels: Labels, actions: Tensor, probs: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
        value = torch.as_tensor(function(texts, labels, actions, probs), dtype=torch.float32, device=actions.device)
        return value * mask if value.ndim == 2 and value.shape == mask.shape else value

    return reward


BUILT_IN: dict[str, Reward] = {
    "f1": f1_reward,
    "accuracy": accuracy_reward,
    "feedback": feedback_reward,
}


def get_reward(name: str, positive_weight: float = 1.0) -> Reward:
    """A built-in reward by name: `f1`, `accuracy`, `feedback` or `recall_weighted` (uses `positive_weight`)."""
    if name == "recall_weighted":
        return recall_weighted_reward(positive_weight)
    if name not in BUILT_IN:
        raise ValueError(f"unknown reward {name!r}; choose one of {sorted([*BUILT_IN, 'recall_weighted'])}.")
    return BUILT_IN[name]


def check_reward(value: object, rows: int, labels: int) -> Tensor:
    """Validate a reward's output: a finite float tensor of shape `(rows,)` or `(rows, labels)`."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"a reward must return a torch.Tensor, got {type(value).__name__}.")
    if tuple(value.shape) not in ((rows,), (rows, labels)):
        raise ValueError(f"a reward must have shape ({rows},) or ({rows}, {labels}), got {tuple(value.shape)}.")
    if not torch.isfinite(value).all():
        raise FloatingPointError("the reward returned NaN or infinite values.")
    return value.float()
