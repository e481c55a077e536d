"""Inputs of models that encode labels apart from the text: each distinct label once, then text rows.

Two kinds of model do: fully segment-isolated uni-encoders (labels never see the text) and the
bi-encoders (a separate label encoder). Text rows, in the reference format where there is one:

    segment-isolated:  [CLS] <<SEP>>{prompt}{text}{examples} [SEP]   (labels do not take room)
    bi-encoder:        {prompt} {text}                              (few-shot examples are not read)
    bi-encoder-fused:  {prompt} <<LABEL>><<LABEL>>...<<SEP>>{text}{examples}    (prompt_first)
                       {text}{prompt} <<LABEL>><<LABEL>>...<<SEP>>{examples}     (text first)

(`{prompt} ` only when there is a prompt.) Labels: `<<LABEL>>{label}` with the text tokenizer
(segment-isolated), or each label alone with the label tokenizer and its special tokens
(bi-encoders). As everywhere, a text that does not fit is cut (or split into windows), never a
label (one longer than its encoder takes is refused); the fused rows split their labels into groups
when they would leave the text too little room.

With `avg`, `max` or `last` pooling the reference bi-encoder pools a label over the padding up to
the longest label of the text's candidates; each label here carries that length
(`pooled_length`), so its vector is the reference's, whatever the labels are batched with.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoTokenizer, PreTrainedTokenizerBase
from transformers.utils import cached_file

from .checkpoint import looks_like_hub_id
from .config import GLiClassConfig
from .padding import pad_rows
from .prompt import LABEL_TOKEN, REQUIRED_TOKENS, SEP_TOKEN, EncodedRow, LabelTooLongError, PromptEncoder, shown

LABEL_TOKENIZER_DIR = "label_tokenizer"  # subfolder of a checkpoint holding the label encoder's tokenizer
MAX_CACHED_LABEL_IDS = 200_000  # token ids kept per builder; past that the cache starts again


class SegmentPromptEncoder(PromptEncoder):
    """Text rows of a segment-isolated uni-encoder: the labels are encoded apart and take no room."""

    def build_string(self, text: str, labels: Sequence[str], prompt: str = "", examples: str = "") -> tuple[str, int]:
        section = SEP_TOKEN + prompt
        return section + text + examples, len(section)

    def _label_length(self, label: str) -> int:
        return 0

    def label_groups(
        self, labels: Sequence[str], prompt: str, examples: str, text: str = "", windows: bool = False
    ) -> list[tuple[int, int]]:
        """All labels in one group, as they take no room (the prompt and examples are still checked)."""
        super().label_groups([], prompt, examples)
        return [(0, len(labels))]


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
                raise ValueError(
                    "bi-encoder models do not read few-shot examples; use a uni-encoder or bi-encoder-fused model."
                )
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
class LabelsApartBatch:
    """Text rows and the distinct labels they score.

    `rows[i]` scores `labels[label_start:label_end]` of its text; `row_labels[i]` are those labels
    as indices into `labels` (each distinct `LabelInput` once).
    """

    rows: list[EncodedRow]
    row_labels: list[list[int]]
    labels: list[LabelInput]

    def label_inputs(self, indices: Sequence[int], pad_id: int) -> dict[str, torch.Tensor]:
        """`GLiClassModel.get_label_features` inputs for `labels[i]`, `i` in `indices`."""
        return label_model_inputs([self.labels[index] for index in indices], pad_id)

    def model_inputs(self, pad_id: int, label_pad_id: int) -> dict[str, torch.Tensor]:
        """Padded `GLiClassModel.forward` inputs for all rows at once (labels repeated per row).

        `forward` pools label rows over their whole width, as the reference does, so these equal
        the reference's inputs (and scores) for a batch of one text."""
        text = pad_rows([row.input_ids for row in self.rows], pad_id)
        input_ids, attention_mask = text["input_ids"], text["attention_mask"]
        num_labels = max(len(labels) for labels in self.row_labels)
        label_rows = pad_rows([label.input_ids for label in self.labels], label_pad_id)
        label_ids, label_mask = label_rows["input_ids"], label_rows["attention_mask"]
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


def label_model_inputs(labels: Sequence[LabelInput], pad_id: int) -> dict[str, torch.Tensor]:
    """`GLiClassModel.get_label_features` inputs (`input_ids`, `attention_mask`, `pooling_mask`) of `labels`."""
    width = max(label.pooled_length for label in labels)
    inputs = pad_rows([label.input_ids for label in labels], pad_id, width)
    lengths = torch.tensor([label.pooled_length for label in labels]).unsqueeze(1)
    inputs["pooling_mask"] = (torch.arange(width).unsqueeze(0) < lengths).long()
    return inputs


class LabelsApartInputs:
    """Builds `LabelsApartBatch`es for a model whose labels are encoded apart (see the module doc).

    Use `for_model(model, tokenizer, max_length, ...)`. Label token ids are cached across calls.
    """

    def __init__(
        self,
        text_rows: PromptEncoder,
        label_tokenizer: PreTrainedTokenizerBase,
        label_max_length: int,
        label_prefix: str = "",
        pads_labels: bool = False,
    ) -> None:
        self.text_rows = text_rows
        self.label_tokenizer = label_tokenizer
        self.label_max_length = label_max_length
        self.label_prefix = label_prefix
        self.pads_labels = pads_labels
        self._label_ids: dict[str, list[int]] = {}

    @classmethod
    def for_model(
        cls,
        config: GLiClassConfig,
        tokenizer: PreTrainedTokenizerBase,
        label_tokenizer: PreTrainedTokenizerBase | None,
        max_length: int,
        min_text_tokens: int = 32,
        window_overlap: int = 64,
    ) -> LabelsApartInputs:
        """The builder for a segment-isolated uni-encoder (`label_tokenizer` None) or a bi-encoder."""
        if not config.is_bi_encoder:
            text_rows = SegmentPromptEncoder(tokenizer, True, max_length, min_text_tokens, window_overlap)
            return cls(text_rows, tokenizer, max_length, label_prefix=LABEL_TOKEN)
        if label_tokenizer is None:
            raise ValueError("a bi-encoder needs its label tokenizer (model.label_tokenizer).")
        fused = config.architecture_type == "bi-encoder-fused"
        text_rows = BiEncoderPromptEncoder(
            tokenizer, fused, config.prompt_first, max_length, min_text_tokens, window_overlap
        )
        limits = [max_length, getattr(config.label_model_config, "max_position_embeddings", None) or max_length]
        if 0 < getattr(label_tokenizer, "model_max_length", 0) < 100_000:
            limits.append(label_tokenizer.model_max_length)
        # the reference pools label padding with avg/max/last pooling
        return cls(text_rows, label_tokenizer, min(limits), pads_labels=config.pooling_strategy != "first")

    @property
    def max_length(self) -> int:
        """Longest text row."""
        return self.text_rows.max_length

    def build(
        self,
        texts: Sequence[str],
        labels: Sequence[Sequence[str]],
        prompts: Sequence[str],
        examples: Sequence[str],
        windows: bool = False,
    ) -> LabelsApartBatch:
        """Rows for every text with its own labels, prompt and formatted examples (see `format_examples`)."""
        rows = self.text_rows.encode(texts, labels, prompts, examples, windows=windows)
        distinct = list({id(text_labels): text_labels for text_labels in labels}.values())  # shared lists once
        self.label_ids(label for text_labels in distinct for label in text_labels)  # one tokenizer call for all
        keys: dict[LabelInput, int] = {}
        per_list = {
            id(text_labels): [keys.setdefault(entry, len(keys)) for entry in self.label_entries(text_labels)]
            for text_labels in distinct
        }
        per_text = [per_list[id(text_labels)] for text_labels in labels]
        row_labels = [per_text[row.text_index][row.label_start : row.label_end] for row in rows]
        return LabelsApartBatch(rows, row_labels, list(keys))

    def label_entries(self, labels: Sequence[str]) -> list[LabelInput]:
        """The encoder inputs of one text's candidate labels."""
        ids = dict(zip(labels, self.label_ids(labels)))
        longest = max(len(ids[label]) for label in labels) if self.pads_labels else 0
        return [LabelInput(label, tuple(ids[label]), max(longest, len(ids[label]))) for label in labels]

    def label_ids(self, label_texts: Iterable[str]) -> list[list[int]]:
        """Token ids of each label; `LabelTooLongError` for one longer than `label_max_length`."""
        label_texts = list(label_texts)
        if len(self._label_ids) > MAX_CACHED_LABEL_IDS:  # a long-running service with ever new labels
            self._label_ids.clear()
        ids = {label: self._label_ids.get(label) for label in label_texts}  # read once: another thread may clear
        new = [label for label, known in ids.items() if known is None]
        if new:
            ids.update(zip(new, self._new_label_ids(new)))
            self._label_ids.update((label, ids[label]) for label in new)
        return [ids[label] for label in label_texts]

    def _new_label_ids(self, labels: list[str]) -> list[list[int]]:
        """Token ids of `labels` (at least one), never cut (the reference bi-encoder cuts them silently)."""
        if self.label_prefix:  # `<<LABEL>>label` segments
            encoded = self.label_tokenizer(
                [self.label_prefix + label for label in labels], add_special_tokens=False, verbose=False
            )
        else:  # a bi-encoder's label tokenizer, with its special tokens
            encoded = self.label_tokenizer(labels, verbose=False)
        for label, ids in zip(labels, encoded["input_ids"]):
            if len(ids) > self.label_max_length:
                raise LabelTooLongError(
                    f"label {shown(label)} needs {len(ids)} tokens; at most {self.label_max_length} fit.", label
                )
        return encoded["input_ids"]


def load_label_tokenizer(
    config: GLiClassConfig, checkpoint: str | Path | None, **hub_options: Any
) -> PreTrainedTokenizerBase:
    """The label encoder's tokenizer of a bi-encoder checkpoint.

    Tried in order: the checkpoint's `label_tokenizer/` subfolder (written by
    `GLiClassModel.save_pretrained`; a local folder, or a hub id fetched with `hub_options`:
    `revision`, `subfolder`, `cache_dir`, `local_files_only`, ...), then `config.label_model_name`
    (a local path, or a hub id fetched with the same options but `revision` and `subfolder`). Raises
    `OSError` naming the places tried when none holds one.
    """
    tried = []
    subfolder = "/".join(part for part in (hub_options.pop("subfolder", None), LABEL_TOKENIZER_DIR) if part)
    revision = hub_options.pop("revision", None)  # the checkpoint's, not the label model's
    if checkpoint is not None:
        local = Path(checkpoint).expanduser()
        if (local / subfolder).is_dir():
            return AutoTokenizer.from_pretrained(local / subfolder)
        if local.exists() or not looks_like_hub_id(str(checkpoint)):
            tried.append(str(local / subfolder))
        else:
            try:
                # a tokenizer_config.json says the repository has a label tokenizer; then config= spares a
                # look-up of label_tokenizer/config.json, which save_pretrained does not write (offline, a
                # cache made by `hf download` has no record that the hub lacks it)
                cached_file(
                    str(checkpoint), "tokenizer_config.json", subfolder=subfolder, revision=revision, **hub_options
                )
                return AutoTokenizer.from_pretrained(
                    str(checkpoint),
                    subfolder=subfolder,
                    revision=revision,
                    config=config.label_model_config,
                    **hub_options,
                )
            except (OSError, ValueError) as error:
                tried.append(f"{subfolder}/ of {str(checkpoint)!r} ({_first_line(error)})")
    name = config.label_model_name
    if name:
        try:
            return AutoTokenizer.from_pretrained(name, **hub_options)
        except (OSError, ValueError) as error:
            tried.append(f"{name!r} ({_first_line(error)})")
    raise OSError(
        "cannot load the label tokenizer of this bi-encoder; tried "
        + (", ".join(tried) if tried else "nothing (no checkpoint folder and no label_model_name)")
        + f". Save it in <checkpoint>/{LABEL_TOKENIZER_DIR}/ or set label_model_name to a folder holding it."
    )


def _first_line(error: Exception) -> str:
    """`ErrorType: first line of its message`, for a list of places tried."""
    message = str(error).strip()
    return f"{type(error).__name__}: {message.splitlines()[0]}" if message else type(error).__name__
