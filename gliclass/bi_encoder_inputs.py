"""Inputs of the bi-encoder architectures, in the reference format, and their label tokenizer.

Text rows (text tokenizer):

    bi-encoder:        {prompt} {text}                    (few-shot examples are not read)
    bi-encoder-fused:  {prompt} <<LABEL>><<LABEL>>...<<SEP>>{text}{examples}    (prompt_first)
                       {text}{prompt} <<LABEL>><<LABEL>>...<<SEP>>{examples}     (text first)

(`{prompt} ` only when there is a prompt.) Each label is tokenized on its own by the label
tokenizer, with its special tokens. As for the uni-encoder, a text that does not fit is cut (or
split into windows), never a label; the fused rows split their labels into groups when they
would leave the text too little room.

With `avg`, `max` or `last` pooling the reference pools a label over the padding up to the
longest label of the text's candidates; each label here carries that length (`pooled_length`),
so its vector is the reference's, whatever the labels are batched with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from .config import GLiClassConfig
from .prompt import LABEL_TOKEN, REQUIRED_TOKENS, SEP_TOKEN, EncodedRow, PromptEncoder

LABEL_TOKENIZER_DIR = "label_tokenizer"  # subfolder of a checkpoint holding the label encoder's tokenizer


class BiEncoderPromptEncoder(PromptEncoder):
    """Text rows of a bi-encoder (`fused=False`: no label markers) or a fused bi-encoder."""

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        fused: bool,
        prompt_first: bool,
        max_length: int,
        min_text_tokens: int = 32,
        window_overlap: int = 64,
    ) -> None:
        self.fused = fused
        self.required_tokens = REQUIRED_TOKENS if fused else ()
        super().__init__(tokenizer, prompt_first, max_length, min_text_tokens, window_overlap)

    def build_string(self, text: str, labels: Sequence[str], prompt: str = "", examples: str = "") -> tuple[str, int]:
        lead = f"{prompt} " if prompt else ""
        if not self.fused:
            if examples:
                raise ValueError("bi-encoder models do not read few-shot examples; use a uni-encoder or bi-encoder-fused model.")
            return lead + text, len(lead)
        section = lead + LABEL_TOKEN * len(labels) + SEP_TOKEN
        if self.prompt_first:
            return section + text + examples, len(section)
        return text + section + examples, 0

    def _label_length(self, label: str) -> int:
        return 1 if self.fused else 0  # one `<<LABEL>>` token in a fused row, nothing in a plain one


@dataclass(frozen=True)
class LabelInput:
    """One label as the label encoder reads it: its token ids, and how many positions its vector
    is pooled over (`len(input_ids)`, or more: padding the reference includes)."""

    text: str
    input_ids: tuple[int, ...]
    pooled_length: int


@dataclass(frozen=True)
class BiEncoderBatch:
    """Text rows and the labels they score.

    `rows[i]` scores `labels[label_start:label_end]` of its text; `row_labels[i]` are those labels
    as indices into `labels` (each distinct `LabelInput` once).
    """

    rows: list[EncodedRow]
    row_labels: list[list[int]]
    labels: list[LabelInput]

    def label_inputs(self, indices: Sequence[int], pad_id: int) -> dict[str, torch.Tensor]:
        """`GLiClassModel.get_label_features` inputs for `labels[i]`, `i` in `indices`."""
        chosen = [self.labels[index] for index in indices]
        width = max(label.pooled_length for label in chosen)
        ids, attention = pad([label.input_ids for label in chosen], pad_id, width)
        pooling = torch.arange(width).unsqueeze(0) < torch.tensor([label.pooled_length for label in chosen]).unsqueeze(1)
        return {"class_input_ids": ids, "class_attention_mask": attention, "class_pooling_mask": pooling.long()}

    def model_inputs(self, pad_id: int, label_pad_id: int) -> dict[str, torch.Tensor]:
        """Padded `GLiClassModel.forward` inputs for all rows at once (labels repeated per row).

        `forward` pools label rows over their whole width, as the reference does, so these equal
        the reference's inputs (and scores) for a batch of one text."""
        input_ids, attention_mask = pad([row.input_ids for row in self.rows], pad_id)
        num_labels = max(len(labels) for labels in self.row_labels)
        label_ids, label_mask = pad([label.input_ids for label in self.labels], label_pad_id)
        class_input_ids = torch.full((len(self.rows), num_labels, label_ids.shape[1]), label_pad_id, dtype=torch.long)
        class_attention_mask = torch.zeros_like(class_input_ids)
        labels_mask = torch.zeros(len(self.rows), num_labels, dtype=torch.long)
        for slot, labels in enumerate(self.row_labels):
            class_input_ids[slot, : len(labels)] = label_ids[labels]
            class_attention_mask[slot, : len(labels)] = label_mask[labels]
            labels_mask[slot, : len(labels)] = 1
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "class_input_ids": class_input_ids,
            "class_attention_mask": class_attention_mask,
            "labels_mask": labels_mask,
        }


class BiEncoderInputBuilder:
    """Builds `BiEncoderBatch`es for one bi-encoder model and its two tokenizers.

    `max_length` bounds the text rows; labels are cut at `label_max_length` (default: the label
    tokenizer's and label encoder's limits, at most `max_length`). Label token ids are cached
    across calls.
    """

    def __init__(
        self,
        config: GLiClassConfig,
        tokenizer: PreTrainedTokenizerBase,
        label_tokenizer: PreTrainedTokenizerBase,
        max_length: int,
        label_max_length: int | None = None,
        min_text_tokens: int = 32,
        window_overlap: int = 64,
    ) -> None:
        if not config.is_bi_encoder:
            raise ValueError(f"BiEncoderInputBuilder needs a bi-encoder config, not {config.architecture_type!r}.")
        fused = config.architecture_type == "bi-encoder-fused"
        self.pads_labels = config.pooling_strategy != "first"  # the reference pools label padding then
        self.text_encoder = BiEncoderPromptEncoder(
            tokenizer, fused, config.prompt_first, max_length, min_text_tokens, window_overlap
        )
        self.label_tokenizer = label_tokenizer
        limits = [max_length, getattr(config.label_model_config, "max_position_embeddings", None) or max_length]
        if 0 < getattr(label_tokenizer, "model_max_length", 0) < 100_000:
            limits.append(label_tokenizer.model_max_length)
        self.label_max_length = label_max_length or min(limits)
        self._label_ids: dict[str, list[int]] = {}

    @property
    def max_length(self) -> int:
        """Longest text row."""
        return self.text_encoder.max_length

    def build(
        self,
        texts: Sequence[str],
        labels: Sequence[Sequence[str]],
        prompts: Sequence[str],
        examples: Sequence[str],
        windows: bool = False,
    ) -> BiEncoderBatch:
        """Rows for every text with its own labels, prompt and formatted examples (see `format_examples`)."""
        rows = self.text_encoder.encode(texts, labels, prompts, examples, windows=windows)
        distinct = list(dict.fromkeys(label for text_labels in labels for label in text_labels))
        ids = dict(zip(distinct, self.label_ids(distinct)))
        keys: dict[LabelInput, int] = {}
        per_text = []
        for text_labels in labels:
            longest = max(len(ids[label]) for label in text_labels) if self.pads_labels else 0
            entries = [LabelInput(label, tuple(ids[label]), max(longest, len(ids[label]))) for label in text_labels]
            per_text.append([keys.setdefault(entry, len(keys)) for entry in entries])
        row_labels = [per_text[row.text_index][row.label_start : row.label_end] for row in rows]
        return BiEncoderBatch(rows, row_labels, list(keys))

    def label_ids(self, label_texts: Sequence[str]) -> list[list[int]]:
        """Label-tokenizer ids of each label (special tokens included, cut at `label_max_length`)."""
        new = [label for label in dict.fromkeys(label_texts) if label not in self._label_ids]
        if new:
            encoded = self.label_tokenizer(new, truncation=True, max_length=self.label_max_length)["input_ids"]
            self._label_ids.update(zip(new, encoded))
        return [self._label_ids[label] for label in label_texts]


def build_bi_encoder_inputs(
    config: GLiClassConfig,
    tokenizer: PreTrainedTokenizerBase,
    label_tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    labels: Sequence[Sequence[str]],
    prompts: Sequence[str],
    examples: Sequence[str],
    max_length: int,
    windows: bool = False,
) -> BiEncoderBatch:
    """One-off `BiEncoderInputBuilder(config, tokenizer, label_tokenizer, max_length).build(...)`."""
    builder = BiEncoderInputBuilder(config, tokenizer, label_tokenizer, max_length)
    return builder.build(texts, labels, prompts, examples, windows=windows)


def pad(sequences: Sequence[Sequence[int]], pad_id: int, width: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded `(ids, attention_mask)` tensors of `sequences`, at least `width` wide."""
    width = max(width, max(len(ids) for ids in sequences))
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = torch.tensor(sequence, dtype=torch.long)
        mask[row, : len(sequence)] = 1
    return ids, mask


def load_label_tokenizer(config: GLiClassConfig, checkpoint_dir: str | Path | None) -> PreTrainedTokenizerBase:
    """The label encoder's tokenizer of a bi-encoder checkpoint.

    Tried in order: `checkpoint_dir/label_tokenizer/` (written by `GLiClassModel.save_pretrained`),
    then `config.label_model_name` (a local path, or a hub id, which the hub cache may serve offline).
    Raises `OSError` naming both places when neither holds one.
    """
    tried = []
    if checkpoint_dir is not None:
        local = Path(checkpoint_dir) / LABEL_TOKENIZER_DIR
        if local.is_dir():
            return AutoTokenizer.from_pretrained(local)
        tried.append(str(local))
    name = config.label_model_name
    if name:
        try:
            return AutoTokenizer.from_pretrained(name)
        except (OSError, ValueError) as error:
            tried.append(f"{name!r} ({error.__class__.__name__}: {str(error).splitlines()[0] if str(error) else ''})")
    raise OSError(
        "cannot load the label tokenizer of this bi-encoder; tried "
        + (", ".join(tried) if tried else "nothing (no checkpoint folder and no label_model_name)")
        + f". Save it in <checkpoint>/{LABEL_TOKENIZER_DIR}/ or set label_model_name to a folder holding it."
    )
