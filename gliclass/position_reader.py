"""Exact encoder shortcut: run the last layer only at the positions the heads read.

With `first`/`last` text pooling and `first` label pooling, the heads read a handful of
positions (one per label and one for the text). Every layer but the last must still run over
the whole sequence, but the last layer's queries, feed-forward and layer norms are only needed
at those positions. The result equals the full forward up to float rounding.

Implemented for BERT-style encoders (BERT, MiniLM, RoBERTa, XLM-R, CamemBERT, ELECTRA), whose
layers expose `attention.self.{query,key,value}`, `attention.output`, `intermediate`, `output`.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from .config import BERT_STYLE_MODEL_TYPES
from .pooling import gather_positions


class PositionReadingRunner:
    """Callable `(input_ids, attention_mask, positions) -> states (batch, positions, dim)`.

    Shares every parameter with the encoder it wraps (moving or quantising the encoder is seen
    here too); it is not an `nn.Module`, so the weights are not registered twice.
    """

    def __init__(self, encoder: nn.Module) -> None:
        layers = encoder.encoder.layer
        self.last_layer = layers[-1]
        self.lower_encoder = _without_last_layer(encoder)

    @classmethod
    def for_encoder(cls, encoder: nn.Module) -> PositionReadingRunner | None:
        """A reader for `encoder`, or None when its architecture is not supported."""
        config = encoder.config
        if config.model_type not in BERT_STYLE_MODEL_TYPES or config.is_decoder:
            return None
        if getattr(config, "position_embedding_type", "absolute") != "absolute":
            return None
        layers = getattr(getattr(encoder, "encoder", None), "layer", None)
        if not isinstance(layers, nn.ModuleList) or len(layers) < 1:
            return None
        return cls(encoder)

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        hidden = self.lower_encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return _layer_at_positions(self.last_layer, hidden, attention_mask, positions)


def _without_last_layer(encoder: nn.Module) -> nn.Module:
    """A shallow twin of `encoder` whose layer stack stops before the last layer."""
    twin = copy.copy(encoder)
    twin._modules = dict(encoder._modules)
    stack = copy.copy(encoder.encoder)
    stack._modules = dict(encoder.encoder._modules)
    stack._modules["layer"] = nn.ModuleList(list(encoder.encoder.layer)[:-1])
    twin._modules["encoder"] = stack
    if "pooler" in twin._modules:
        twin._modules["pooler"] = None
    return twin


def _layer_at_positions(
    layer: nn.Module, hidden: torch.Tensor, attention_mask: torch.Tensor, positions: torch.Tensor
) -> torch.Tensor:
    attention = layer.attention.self
    batch, seq, _ = hidden.shape
    heads, head_dim = attention.num_attention_heads, attention.attention_head_size
    selected = gather_positions(hidden, positions)

    def split_heads(states: torch.Tensor) -> torch.Tensor:
        return states.view(batch, -1, heads, head_dim).transpose(1, 2)

    query = split_heads(attention.query(selected))
    key = split_heads(attention.key(hidden))
    value = split_heads(attention.value(hidden))
    mask = attention_mask.bool()[:, None, None, :]
    context = F.scaled_dot_product_attention(query, key, value, attn_mask=mask)
    context = context.transpose(1, 2).reshape(batch, positions.shape[1], heads * head_dim)
    attended = layer.attention.output(context, selected)
    return layer.output(layer.intermediate(attended), attended)
