"""Projectors and scorers: the small heads between pooled vectors and label logits.

Module and parameter names match the reference checkpoints (`linear_1`, `proj_text`, `mlp`, ...).
Every scorer is called as `scorer(text, labels, label_mask, text_mask)` with text `(batch, dim)`
(or `(batch, seq, dim)` token states for `cross-attn`), labels `(batch, labels, dim)`, the real
labels' mask `(batch, labels)` and the text tokens' mask `(batch, seq)` (only `cross-attn` reads it).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel, PretrainedConfig, PreTrainedModel
from transformers.activations import ACT2FN

from .calibration import calibrated_logits
from .config import GLiClassConfig

MLP_SCORER_HIDDEN = 256  # fixed width of the reference's MLP and Hopfield scorers
HOPFIELD_BETA = 4.0  # inverse temperature of the reference's Hopfield scorer (one update step)
Mask = torch.Tensor | None


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


class BiEncoderProjector(nn.Module):
    """Two-layer MLP `label_encoder_dim → hidden_size → encoder_dim` from the label encoder's space (no dropout)."""

    def __init__(self, config: GLiClassConfig) -> None:
        super().__init__()
        self.linear_1 = nn.Linear(config.label_model_config.hidden_size, config.hidden_size)
        self.act = ACT2FN[config.projector_hidden_act]
        self.linear_2 = nn.Linear(config.hidden_size, config.encoder_config.hidden_size)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.act(self.linear_1(features)))


class DotScorer(nn.Module):
    """Score = text · label."""

    def forward(
        self, text: torch.Tensor, labels: torch.Tensor, label_mask: Mask = None, text_mask: Mask = None
    ) -> torch.Tensor:
        return torch.einsum("bd,bkd->bk", text, labels)


class WeightedDotScorer(nn.Module):
    """MLP over `[text', label', text'' * label'']` with two projections of each side."""

    def __init__(self, dim: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.proj_text = nn.Linear(dim, dim * 2)
        self.proj_label = nn.Linear(dim, dim * 2)
        self.out_mlp = nn.Sequential(nn.Linear(dim * 3, dim * 4), nn.Dropout(dropout), nn.ReLU(), nn.Linear(dim * 4, 1))

    def forward(
        self, text: torch.Tensor, labels: torch.Tensor, label_mask: Mask = None, text_mask: Mask = None
    ) -> torch.Tensor:
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

    def forward(
        self, text: torch.Tensor, labels: torch.Tensor, label_mask: Mask = None, text_mask: Mask = None
    ) -> torch.Tensor:
        return self.mlp(torch.cat([text.unsqueeze(1).expand_as(labels), labels], dim=-1)).squeeze(-1)


class HopfieldScorer(nn.Module):
    """One Hopfield update of each label towards the text, then an MLP on the label alone.

    The text's value vector is added to every label, weighted by a softmax over the row's
    labels of `beta * query(label) · key(text)`; padded labels are left out of that softmax.
    """

    def __init__(self, dim: int, hidden: int = MLP_SCORER_HIDDEN, beta: float = HOPFIELD_BETA) -> None:
        super().__init__()
        self.q_proj = nn.Linear(dim, dim, bias=False)
        self.k_proj = nn.Linear(dim, dim, bias=False)
        self.v_proj = nn.Linear(dim, dim, bias=False)
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden // 2), nn.ReLU(), nn.Linear(hidden // 2, 1)
        )
        self.beta = beta

    def forward(
        self, text: torch.Tensor, labels: torch.Tensor, label_mask: Mask = None, text_mask: Mask = None
    ) -> torch.Tensor:
        affinity = torch.einsum("bkd,bd->bk", self.q_proj(labels), self.k_proj(text)) * self.beta
        if label_mask is not None:
            affinity = affinity.masked_fill(~label_mask.bool(), float("-inf"))
        weights = torch.softmax(affinity, dim=1).nan_to_num(0.0)  # a row without labels has nothing to weigh
        updated = labels + weights.unsqueeze(-1) * self.v_proj(text).unsqueeze(1)
        return self.mlp(updated).squeeze(-1)


class CrossAttnScorer(nn.Module):
    """Each label attends to the text's token states (multi-head); an MLP scores `[context, label]`."""

    def __init__(self, dim: int, num_heads: int, hidden: int, attn_dropout: float) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.attn_dropout = attn_dropout
        self.q_norm = nn.LayerNorm(dim)
        self.kv_norm = nn.LayerNorm(dim)
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim)
        self.score_mlp = nn.Sequential(
            nn.Linear(dim * 2, hidden), nn.GELU(), nn.Linear(hidden, hidden // 2), nn.GELU(), nn.Linear(hidden // 2, 1)
        )

    def forward(
        self, text: torch.Tensor, labels: torch.Tensor, label_mask: Mask = None, text_mask: Mask = None
    ) -> torch.Tensor:
        if text.dim() != 3:
            raise ValueError("the cross-attn scorer needs the text's token states (batch, seq, dim).")
        batch, num_labels, dim = labels.shape

        def heads(states: torch.Tensor) -> torch.Tensor:
            return states.view(batch, -1, self.num_heads, dim // self.num_heads).transpose(1, 2)

        query, key, value = heads(self.q(self.q_norm(labels))), heads(self.k(self.kv_norm(text))), heads(self.v(text))
        keep = None if text_mask is None else text_mask.bool()[:, None, None, :]
        dropout = self.attn_dropout if self.training else 0.0
        context = F.scaled_dot_product_attention(query, key, value, attn_mask=keep, dropout_p=dropout)
        context = self.norm(self.out(context.transpose(1, 2).reshape(batch, num_labels, dim)))
        return self.score_mlp(torch.cat([context, labels], dim=-1)).squeeze(-1)


def build_scorer(config: GLiClassConfig) -> nn.Module:
    """The scorer named by `config.scorer_type`."""
    if config.scorer_type == "simple":
        return DotScorer()
    if config.scorer_type == "weighted-dot":
        return WeightedDotScorer(config.hidden_size)
    if config.scorer_type == "hopfield":
        return HopfieldScorer(config.hidden_size)
    if config.scorer_type == "cross-attn":
        return CrossAttnScorer(
            config.hidden_size, config.scorer_num_heads, config.scorer_mlp_hidden_size, config.scorer_attn_dropout
        )
    return MLPScorer(config.hidden_size)


def new_encoder(config: PretrainedConfig) -> PreTrainedModel:
    """A randomly initialised encoder for `config`, in the default dtype in effect (the one
    `from_pretrained(dtype=...)` sets), not the `dtype` its config was saved with."""
    return AutoModel.from_config(config, dtype=torch.get_default_dtype())


class GLiClassCore(nn.Module):
    """What every GLiClass core holds besides its encoders: the text and label projectors, the
    scorer, dropout, the logit scale and the optional logit bias (reference parameter names)."""

    def __init__(self, config: GLiClassConfig, encoder_model: nn.Module) -> None:
        super().__init__()
        self.config = config
        self.encoder_model = encoder_model
        self.text_projector = FeaturesProjector(config)
        self.classes_projector = FeaturesProjector(config)
        self.scorer = build_scorer(config)
        self.dropout = nn.Dropout(config.dropout)
        self.logit_scale = nn.Parameter(torch.tensor(float(config.logit_scale_init_value)))
        self.logit_bias = None
        if config.logit_bias_init_value is not None:
            self.logit_bias = nn.Parameter(torch.tensor(float(config.logit_bias_init_value)))

    padded_label_logit = -1e4  # the logit of a padded label slot
    scales_logits_always = False  # bi-encoders scale by `logit_scale` even without normalize_features

    def score(
        self,
        text: torch.Tensor,
        labels: torch.Tensor,
        label_mask: torch.Tensor,
        text_mask: torch.Tensor | None = None,
        calibrated: bool = True,
    ) -> torch.Tensor:
        """Logits `(batch, labels)` of projected vectors; padded labels get a large negative logit.

        `text_mask` `(batch, seq)` is needed with token-level text (`pooling_strategy='pass'`).
        `calibrated=False` gives the scorer's raw output (no logit scale, no bias, no
        `score_calibration` over the row's labels).
        """
        label_mask = label_mask.bool()
        logits = self.scorer(text, labels, label_mask, text_mask)
        if calibrated and (self.scales_logits_always or self.config.normalize_features):
            logits = logits * self.logit_scale
        if calibrated and self.logit_bias is not None:
            logits = logits + self.logit_bias
        if calibrated and self.config.score_calibration:
            logits = calibrated_logits(logits, label_mask, self.config.score_calibration)
        return logits.masked_fill(~label_mask, self.padded_label_logit)

    def project_text(self, text: torch.Tensor) -> torch.Tensor:
        """Projected (and, with `normalize_features`, unit-length) text vectors."""
        return self.normalized(self.dropout(self.text_projector(text)))

    def project_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """Projected (and, with `normalize_features`, unit-length) label vectors."""
        return self.normalized(self.classes_projector(labels))

    def normalized(self, vectors: torch.Tensor) -> torch.Tensor:
        if not self.config.normalize_features:
            return vectors
        return vectors / (vectors.norm(p=2, dim=-1, keepdim=True) + 1e-8)
