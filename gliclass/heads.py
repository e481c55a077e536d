"""Projectors and scorers: the small heads between pooled vectors and label logits.

Module and parameter names match the reference checkpoints (`linear_1`, `proj_text`, `mlp`, ...).
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.activations import ACT2FN

from .config import GLiClassConfig

MLP_SCORER_HIDDEN = 256  # fixed width of the reference's MLP scorer


class FeaturesProjector(nn.Module):
    """Two-layer MLP `encoder_dim → hidden_size → encoder_dim` applied to text or label vectors."""

    def __init__(self, config: GLiClassConfig) -> None:
        super().__init__()
        encoder_dim = config.encoder_config.hidden_size
        self.linear_1 = nn.Linear(encoder_dim, config.hidden_size)
        self.act = ACT2FN[config.projector_hidden_act]
        self.dropout = nn.Dropout(config.dropout)
        self.linear_2 = nn.Linear(config.hidden_size, encoder_dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.dropout(self.act(self.linear_1(features))))


class DotScorer(nn.Module):
    """Score = text · label."""

    def forward(self, text: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bd,bkd->bk", text, labels)


class WeightedDotScorer(nn.Module):
    """MLP over `[text', label', text'' * label'']` with two projections of each side."""

    def __init__(self, dim: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.proj_text = nn.Linear(dim, dim * 2)
        self.proj_label = nn.Linear(dim, dim * 2)
        self.out_mlp = nn.Sequential(
            nn.Linear(dim * 3, dim * 4), nn.Dropout(dropout), nn.ReLU(), nn.Linear(dim * 4, 1)
        )

    def forward(self, text: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        text_a, text_b = self.proj_text(text).unsqueeze(1).chunk(2, dim=-1)
        label_a, label_b = self.proj_label(labels).chunk(2, dim=-1)
        text_a = text_a.expand_as(label_a)
        return self.out_mlp(torch.cat([text_a, label_a, text_b * label_b], dim=-1)).squeeze(-1)


class MLPScorer(nn.Module):
    """MLP over the concatenation `[text, label]`."""

    def __init__(self, dim: int, hidden: int = MLP_SCORER_HIDDEN) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(dim * 2, hidden), nn.ReLU(), nn.Linear(hidden, hidden // 2), nn.ReLU(), nn.Linear(hidden // 2, 1)
        )

    def forward(self, text: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.mlp(torch.cat([text.unsqueeze(1).expand_as(labels), labels], dim=-1)).squeeze(-1)


def build_scorer(config: GLiClassConfig) -> nn.Module:
    """The scorer named by `config.scorer_type`."""
    if config.scorer_type == "simple":
        return DotScorer()
    if config.scorer_type == "weighted-dot":
        return WeightedDotScorer(config.hidden_size)
    return MLPScorer(config.hidden_size)
