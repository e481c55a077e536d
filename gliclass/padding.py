"""Padding token-id rows of different lengths into model inputs (the one place rows are padded)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch


def pad_rows(rows: Sequence[Sequence[int]], pad_id: int, width: int | None = None) -> dict[str, torch.Tensor]:
    """`{"input_ids", "attention_mask"}` `(len(rows), width)` long tensors, rows left-aligned;
    `width` defaults to the longest row."""
    width = max((len(row) for row in rows), default=0) if width is None else width
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for slot, row in enumerate(rows):
        input_ids[slot, : len(row)] = torch.as_tensor(row, dtype=torch.long)
        attention_mask[slot, : len(row)] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask}


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> Iterator[list[int]]:
    """Indices of rows of these `lengths` in batches of `batch_size`, shortest first (little padding)."""
    order = sorted(range(len(lengths)), key=lambda index: lengths[index])
    for begin in range(0, len(order), batch_size):
        yield order[begin : begin + batch_size]


def pad_id_of(tokenizer) -> int:
    """The tokenizer's padding id (0 when it has none)."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
