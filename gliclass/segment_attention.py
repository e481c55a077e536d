"""Segment-isolated attention: each label and the text encoded on their own in the lower layers.

A GLiClass row is a run of segments: `[CLS]`, then one per `<<LABEL>>` (the marker and the label's
tokens), then the text from `<<SEP>>` on. With `segment_isolated_layers = k`, the first `k`
encoder layers let a token attend only inside its own segment, and position ids restart at every
segment, so each segment is encoded as if it were a sentence of its own (the marker playing
`[CLS]`); the layers above attend across the whole row as usual. With `k` equal to the depth,
the model is a bi-encoder computed in one pass: label vectors do not depend on the text or on
the other labels, and the pretrained sentence-embedding geometry of the backbone is kept.

Implemented for the same BERT-style encoders as the position reader (absolute positions,
`embeddings` + `encoder.layer` stack).
"""

from __future__ import annotations

import torch
from torch import nn


def segment_ids(input_ids: torch.Tensor, marker_ids: tuple[int, ...]) -> torch.Tensor:
    """Segment index of every token: a new segment starts at each marker token."""
    starts = torch.zeros_like(input_ids, dtype=torch.bool)
    for marker in marker_ids:
        starts |= input_ids == marker
    return starts.long().cumsum(1)


def segment_position_ids(segments: torch.Tensor) -> torch.Tensor:
    """Position ids that restart at 0 at the first token of every segment."""
    index = torch.arange(segments.shape[1], device=segments.device).expand_as(segments)
    is_start = torch.ones_like(segments, dtype=torch.bool)
    is_start[:, 1:] = segments[:, 1:] != segments[:, :-1]
    start = torch.cummax(index * is_start, dim=1).values
    return index - start


def attention_bias(keep: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Additive attention mask `(batch, 1, queries, keys)` from a boolean `keep` of the same layout."""
    return torch.zeros(keep.shape, dtype=dtype, device=keep.device).masked_fill(~keep, torch.finfo(dtype).min)


class SegmentIsolatedRunner:
    """Callable `(input_ids, attention_mask) -> states (batch, seq, dim)` of layer `layer`
    (an index into embeddings + every layer, as `hidden_states`; -1: the last layer).

    Shares every parameter with the encoder it wraps; it is not an `nn.Module`.
    """

    def __init__(self, encoder: nn.Module, isolated_layers: int, marker_ids: tuple[int, ...], layer: int = -1) -> None:
        self.encoder = encoder
        self.isolated_layers = isolated_layers
        self.marker_ids = marker_ids
        self.layer = layer

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        segments = segment_ids(input_ids, self.marker_ids)
        embeddings = self.encoder.embeddings
        first_position = getattr(embeddings, "padding_idx", -1) + 1  # RoBERTa-style positions start past padding
        hidden = embeddings(
            input_ids=input_ids,
            position_ids=segment_position_ids(segments) + first_position,
            token_type_ids=torch.zeros_like(input_ids),
        )
        real_keys = attention_mask.bool()[:, None, None, :]
        same_segment = (segments[:, :, None] == segments[:, None, :]).unsqueeze(1)
        isolated = attention_bias(same_segment & real_keys, hidden.dtype)
        full = attention_bias(real_keys.expand_as(same_segment), hidden.dtype)
        layers = list(self.encoder.encoder.layer)
        stop = len(layers) + 1 + self.layer if self.layer < 0 else self.layer  # states computed: 0 .. stop
        for depth, layer in enumerate(layers[:stop]):
            hidden = layer(hidden, attention_mask=isolated if depth < self.isolated_layers else full)
            if isinstance(hidden, tuple):  # older transformers return (hidden, ...)
                hidden = hidden[0]
        return hidden
