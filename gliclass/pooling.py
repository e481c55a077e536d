"""Reading one vector per text and one per label out of the encoder's token states.

Every function takes the token states `(batch, seq, dim)` and masks, and only ever reads real
tokens: padding never changes a result, so scores do not depend on the rest of the batch.
"""

from __future__ import annotations

import torch


def pool_text(hidden: torch.Tensor, mask: torch.Tensor, strategy: str) -> torch.Tensor:
    """Pool `hidden` over the positions where `mask` is 1 → `(batch, dim)`.

    `first`/`last` read the first/last masked position; `avg`/`max` reduce over all of them.
    """
    mask = mask.bool()
    if strategy in ("first", "last"):
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), edge_positions(mask, strategy)]
    if strategy == "avg":
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)
    if strategy == "max":
        return hidden.masked_fill(~mask.unsqueeze(-1), torch.finfo(hidden.dtype).min).amax(1)
    raise ValueError(f"unknown text pooling {strategy!r}")


def edge_positions(mask: torch.Tensor, strategy: str) -> torch.Tensor:
    """Index of the first (`first`) or last (`last`) True position of each row of `mask`."""
    positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
    if strategy == "first":
        return positions.masked_fill(~mask, mask.shape[1]).amin(1)
    return positions.masked_fill(~mask, -1).amax(1)


def label_token_positions(
    input_ids: torch.Tensor, label_token_id: int, shift: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions of the `<<LABEL>>` tokens (plus `shift`) → `(positions, label_mask)`, both `(batch, labels)`.

    Rows with fewer labels are padded with position 0 and mask 0.
    """
    is_label = input_ids == label_token_id
    counts = is_label.sum(1)
    num_labels = int(counts.max()) if counts.numel() else 0
    order = torch.argsort((~is_label).to(torch.int8), dim=1, stable=True)[:, :num_labels]
    label_mask = torch.arange(num_labels, device=input_ids.device) < counts.unsqueeze(1)
    positions = (order + shift).clamp(max=input_ids.shape[1] - 1).masked_fill(~label_mask, 0)
    return positions, label_mask


def gather_positions(hidden: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """`hidden[b, positions[b, k]]` → `(batch, k, dim)`."""
    return hidden.gather(1, positions.unsqueeze(-1).expand(-1, -1, hidden.shape[-1]))


def label_span_mean(
    hidden: torch.Tensor,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    label_token_id: int,
    end_token_id: int | None,
    include_label_token: bool,
    num_labels: int,
) -> torch.Tensor:
    """Mean of each label's span: from its `<<LABEL>>` token up to the next one.

    A span stops at `end_token_id` (`<<SEP>>`) when given; otherwise the last label's span runs
    to the end of the sequence, as in the reference implementation.
    """
    is_label = input_ids == label_token_id
    label_index = is_label.long().cumsum(1)  # 1-based index of the label a token belongs to
    in_scope = attention_mask.bool()
    if end_token_id is not None:
        in_scope &= (input_ids == end_token_id).long().cumsum(1) == 0
    if not include_label_token:
        in_scope &= ~is_label
    ks = torch.arange(1, num_labels + 1, device=input_ids.device).view(1, -1, 1)
    span = ((label_index.unsqueeze(1) == ks) & in_scope.unsqueeze(1)).to(hidden.dtype)
    return torch.einsum("bks,bsd->bkd", span, hidden) / span.sum(-1, keepdim=True).clamp(min=1)
