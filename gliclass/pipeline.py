"""The `zero-shot-multilabel` pipeline.

Fast path by default (exact scores): one fast-tokenizer call for the whole input, rows sorted by length so
batches carry little padding, `torch.inference_mode`, CUDA when present, and (for BERT-style
backbones with `first` pooling) the last encoder layer computed only where the heads read.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import Pipeline, PreTrainedTokenizerBase

from .model import GLiClassModel
from .prompt import EncodedRow, PromptEncoder, check_labels, check_text, format_examples, label_with_description

TASK = "zero-shot-multilabel"
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "default_model"  # shipped with the package; see its README.md
AGGREGATIONS = ("max", "mean")


def default_batch_size(device: torch.device) -> int:
    """Rows per forward pass: small on CPU (cache-friendly), larger on accelerators."""
    return 32 if device.type == "cpu" else 128


def backbone_max_length(model: GLiClassModel, tokenizer: PreTrainedTokenizerBase) -> int:
    """The longest input the backbone supports (tokenizer limit and position embeddings)."""
    limits = []
    if 0 < getattr(tokenizer, "model_max_length", 0) < 100_000:
        limits.append(int(tokenizer.model_max_length))
    encoder = model.config.encoder_config
    positions = getattr(encoder, "max_position_embeddings", None)
    if positions:
        # RoBERTa-style position ids start after the padding index.
        offset = encoder.pad_token_id + 1 if encoder.model_type in ("roberta", "xlm-roberta", "camembert") else 0
        limits.append(int(positions) - offset)
    if not limits:
        raise ValueError("cannot tell the backbone's maximum length; pass max_length=.")
    return min(limits)


class ZeroShotMultilabelPipeline(Pipeline):
    """Zero-shot classification with a GLiClass model: all candidate labels in one pass.

    Args (construction):
        model: a [`GLiClassModel`] (keeps its tokenizer) or, through `gliclass.pipeline`, a path/hub id.
        tokenizer: overrides the model's tokenizer.
        max_length: longest encoder input; defaults to the backbone's limit and may not exceed it.
        fast: opt-in approximate speed mode: bfloat16 autocast (CPU with AVX512-BF16/AMX, or GPU);
            scores move by about 1e-2, the top label rarely. The model itself is not changed.
        min_text_tokens: tokens kept for the text before labels are split into groups.
        window_overlap: overlap between text windows when `windows=True`.
    """

    _load_tokenizer = True
    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = False

    def __init__(
        self,
        model: GLiClassModel,
        tokenizer: PreTrainedTokenizerBase | None = None,
        max_length: int | None = None,
        fast: bool = False,
        min_text_tokens: int = 32,
        window_overlap: int = 64,
        **kwargs: Any,
    ) -> None:
        if not isinstance(model, GLiClassModel):
            raise TypeError(f"model must be a GLiClassModel, got {type(model).__name__}.")
        tokenizer = tokenizer or model.tokenizer
        if tokenizer is None:
            raise ValueError("this model has no tokenizer; pass tokenizer= (the one saved with the model).")
        super().__init__(model=model, tokenizer=tokenizer, **kwargs)
        self.model.eval()
        self.fast = fast
        if fast:
            _check_fast_mode(self.device)
        limit = backbone_max_length(self.model, tokenizer)
        if max_length is not None and not 8 <= max_length <= limit:
            raise ValueError(f"max_length={max_length} must be between 8 and the backbone's limit {limit}.")
        self.encoder = PromptEncoder(
            tokenizer,
            prompt_first=self.model.config.prompt_first,
            max_length=max_length or limit,
            min_text_tokens=min_text_tokens,
            window_overlap=window_overlap,
        )

    def _sanitize_parameters(self, **kwargs: Any) -> tuple[dict, dict, dict]:
        return {}, {}, {}

    def __call__(
        self,
        inputs: str | Sequence[str],
        candidate_labels: str | Sequence[str] | Sequence[Sequence[str]] | None = None,
        multi_label: bool = True,
        threshold: float | None = None,
        prompt: str | Sequence[str] | None = None,
        examples: Sequence[dict[str, Any]] | None = None,
        batch_size: int | None = None,
        windows: bool = False,
        aggregation: str = "max",
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """Classify one text (returns a dict) or a list of texts (returns a list of dicts).

        Each result is `{"sequence", "labels", "scores"}` sorted by score. `multi_label=True`
        gives independent sigmoid scores, `False` a softmax over the candidates. `threshold` keeps
        labels scoring at or above it. `candidate_labels` may also be one list per text. `prompt`
        (a task description, or one per text) and few-shot `examples` (`[{"text", "labels"}]`) go
        into the input. `windows=True` scores long texts in overlapping windows, combined by
        `aggregation` (`max` or `mean` of the logits) instead of truncating them.
        """
        single = isinstance(inputs, str)
        texts = [inputs] if single else inputs
        if candidate_labels is None:
            raise ValueError("candidate_labels is required.")
        if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1):
            raise ValueError(f"threshold must be a number in [0, 1], got {threshold!r}.")
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}.")
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
        prepared = self.preprocess(texts, candidate_labels, prompt, examples, windows)
        logits = self._forward_rows(prepared["rows"], batch_size or self._batch_size or default_batch_size(self.device))
        results = self.postprocess(
            {**prepared, "logits": logits}, multi_label=multi_label, threshold=threshold, aggregation=aggregation
        )
        return results[0] if single else results

    def preprocess(
        self,
        texts: Sequence[str],
        candidate_labels: Any,
        prompt: str | Sequence[str] | None = None,
        examples: Sequence[dict[str, Any]] | None = None,
        windows: bool = False,
    ) -> dict[str, Any]:
        """Validate the inputs and build the encoder rows."""
        if not isinstance(texts, (list, tuple)):
            raise TypeError(f"inputs must be a string or a list of strings, got {type(texts).__name__}.")
        if not texts:
            raise ValueError("inputs is an empty list.")
        texts = [check_text(text, f"text {index}") for index, text in enumerate(texts)]
        labels = _labels_per_text(candidate_labels, len(texts))
        prompts = _prompts_per_text(prompt, len(texts))
        example_string = format_examples(examples)
        shown = [[label_with_description(label, descriptions) for label in names] for names, descriptions in labels]
        names = [names for names, _ in labels]
        rows = self.encoder.encode(texts, shown, prompts, [example_string] * len(texts), windows=windows)
        return {"texts": texts, "labels": names, "rows": rows}

    def _forward(self, model_inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Logits `(rows, labels)` for one padded batch."""
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.fast):
            return self.model(**model_inputs).logits.float().cpu()

    def _forward_rows(self, rows: list[EncodedRow], batch_size: int) -> list[torch.Tensor]:
        """Logits of every row, batched by similar length."""
        if self.model.model.labels_are_independent():
            return self._forward_segments(rows, batch_size)
        logits: list[torch.Tensor] = [torch.empty(0)] * len(rows)
        for batch, model_inputs in self._batches([row.input_ids for row in rows], batch_size):
            batch_logits = self._forward(model_inputs)
            for slot, index in enumerate(batch):
                logits[index] = batch_logits[slot, : rows[index].label_end - rows[index].label_start]
        return logits

    def _forward_segments(self, rows: list[EncodedRow], batch_size: int) -> list[torch.Tensor]:
        """Same logits for models whose labels and text are encoded apart: each distinct label
        segment and text segment is encoded once, however many rows share it."""
        config = self.model.config
        pieces = [_split_row(row.input_ids, config.class_token_index, config.text_token_index) for row in rows]
        label_pieces = list(dict.fromkeys(label for labels, _ in pieces for label in labels))
        text_pieces = list(dict.fromkeys(text for _, text in pieces))
        label_vectors = dict(zip(label_pieces, self._segment_vectors(label_pieces, batch_size, labels=True)))
        text_vectors = dict(zip(text_pieces, self._segment_vectors(text_pieces, batch_size, labels=False)))
        core = self.model.model
        logits = []
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.fast):
            for labels, text in pieces:
                vectors = torch.stack([label_vectors[label] for label in labels]).unsqueeze(0)
                mask = torch.ones(1, len(labels), dtype=torch.bool, device=vectors.device)
                logits.append(core.score(text_vectors[text].unsqueeze(0), vectors, mask)[0].float().cpu())
        return logits

    def _segment_vectors(self, segments: list[tuple[int, ...]], batch_size: int, labels: bool) -> list[torch.Tensor]:
        """Projected vectors of one-segment rows (`<<LABEL>> label` or `<<SEP>> text [SEP]`)."""
        core = self.model.model
        vectors: list[torch.Tensor] = [torch.empty(0)] * len(segments)
        for batch, model_inputs in self._batches(segments, batch_size):
            with torch.inference_mode(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.fast):
                text, label, _ = core.features(model_inputs["input_ids"], model_inputs["attention_mask"])
                text, label = core.project(text, label)
            for slot, index in enumerate(batch):
                vectors[index] = label[slot, 0] if labels else text[slot]
        return vectors

    def _batches(self, sequences: Sequence[Sequence[int]], batch_size: int):
        """`(indices, padded model inputs)` over `sequences`, batched by similar length."""
        order = sorted(range(len(sequences)), key=lambda index: len(sequences[index]))
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        for begin in range(0, len(order), batch_size):
            batch = order[begin : begin + batch_size]
            width = max(len(sequences[index]) for index in batch)
            input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
            attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
            for slot, index in enumerate(batch):
                ids = sequences[index]
                input_ids[slot, : len(ids)] = torch.tensor(ids)
                attention_mask[slot, : len(ids)] = 1
            yield batch, {"input_ids": input_ids.to(self.device), "attention_mask": attention_mask.to(self.device)}

    def postprocess(
        self, model_outputs: dict[str, Any], multi_label: bool = True, threshold: float | None = None, aggregation: str = "max"
    ) -> list[dict[str, Any]]:
        """Combine windows and label groups per text, then score, filter and sort."""
        texts, labels = model_outputs["texts"], model_outputs["labels"]
        pieces: list[dict[int, list[torch.Tensor]]] = [{} for _ in texts]
        for row, row_logits in zip(model_outputs["rows"], model_outputs["logits"]):
            pieces[row.text_index].setdefault(row.label_start, []).append(row_logits)
        results = []
        for text, text_labels, groups in zip(texts, labels, pieces):
            combined = [_aggregate(groups[start], aggregation) for start in sorted(groups)]
            logits = torch.cat(combined)
            scores = torch.sigmoid(logits) if multi_label else torch.softmax(logits, dim=-1)
            ranked = sorted(zip(text_labels, scores.tolist()), key=lambda pair: pair[1], reverse=True)
            if threshold is not None:
                ranked = [pair for pair in ranked if pair[1] >= threshold]
            results.append({"sequence": text, "labels": [p[0] for p in ranked], "scores": [p[1] for p in ranked]})
        return results


def score_table(results: Sequence[dict[str, Any]], labels: Sequence[str]) -> torch.Tensor:
    """Pipeline results as a `(texts, labels)` score tensor, columns in the order of `labels`."""
    column = {label: index for index, label in enumerate(labels)}
    table = torch.zeros(len(results), len(labels))
    for row, result in enumerate(results):
        for label, score in zip(result["labels"], result["scores"]):
            table[row, column[label]] = score
    return table


def _split_row(input_ids: Sequence[int], label_id: int, text_id: int) -> tuple[list[tuple[int, ...]], tuple[int, ...]]:
    """A labels-first row's label segments (`<<LABEL>>` up to the next marker) and its text segment (`<<SEP>>` on)."""
    text_start = input_ids.index(text_id)
    starts = [position for position in range(text_start) if input_ids[position] == label_id] + [text_start]
    labels = [tuple(input_ids[begin:end]) for begin, end in zip(starts, starts[1:])]
    return labels, tuple(input_ids[text_start:])


def _aggregate(window_logits: list[torch.Tensor], aggregation: str) -> torch.Tensor:
    stacked = torch.stack(window_logits)
    return stacked.amax(0) if aggregation == "max" else stacked.mean(0)


def _labels_per_text(candidate_labels: Any, count: int) -> list[tuple[list[str], dict[str, str]]]:
    """Label names and descriptions for each text (one shared set, or one per text)."""
    if isinstance(candidate_labels, (list, tuple)) and candidate_labels and all(
        isinstance(item, (list, tuple, dict)) for item in candidate_labels
    ):
        if len(candidate_labels) != count:
            raise ValueError(f"got {len(candidate_labels)} label lists for {count} texts.")
        return [_names_and_descriptions(item) for item in candidate_labels]
    return [_names_and_descriptions(candidate_labels)] * count


def _names_and_descriptions(candidate_labels: Any) -> tuple[list[str], dict[str, str]]:
    if not isinstance(candidate_labels, dict):
        return check_labels(candidate_labels), {}
    names = check_labels(list(candidate_labels))
    descriptions = {}
    for name, description in candidate_labels.items():
        if description is not None:
            descriptions[name] = check_text(description, f"description of label {name!r}")
    return names, descriptions


def _prompts_per_text(prompt: str | Sequence[str] | None, count: int) -> list[str]:
    if prompt is None:
        return [""] * count
    if isinstance(prompt, str):
        return [prompt] * count
    if not isinstance(prompt, (list, tuple)) or len(prompt) != count or not all(isinstance(p, str) for p in prompt):
        raise TypeError("prompt must be a string or one string per text.")
    return list(prompt)


def _check_fast_mode(device: torch.device) -> None:
    """Warn when bfloat16 has no hardware support here (fast mode would then be slower)."""
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        warnings.warn("this GPU has no bfloat16 support; fast=True may be slower than exact mode.", stacklevel=3)
    if device.type == "cpu":
        try:
            native = torch.ops.mkldnn._is_mkldnn_bf16_supported()
        except (AttributeError, RuntimeError):
            native = False
        if not native:
            warnings.warn("this CPU has no native bfloat16 (AVX512-BF16/AMX); fast=True may be slower.", stacklevel=3)


def pipeline(
    task: str = TASK,
    model: str | Path | GLiClassModel | None = None,
    tokenizer: PreTrainedTokenizerBase | None = None,
    device: int | str | torch.device | None = None,
    **kwargs: Any,
) -> ZeroShotMultilabelPipeline:
    """Build the `zero-shot-multilabel` pipeline from a path, a hub id or a model object.

    Same as `transformers.pipeline("zero-shot-multilabel", ...)` once `gliclass` is imported.
    Without `model`, the default model shipped inside the package is used (offline; see
    `gliclass/default_model/README.md`). `device` follows transformers (None: CUDA when available,
    else CPU).
    """
    if task != TASK:
        raise ValueError(f"gliclass.pipeline only provides the {TASK!r} task, got {task!r}.")
    if model is None:
        if not (DEFAULT_MODEL_DIR / "config.json").is_file():
            raise ValueError(
                f"no model given and the default model is missing from this installation ({DEFAULT_MODEL_DIR}); "
                "pass model= (a GLiClass folder, hub id or GLiClassModel)."
            )
        model = DEFAULT_MODEL_DIR
    if isinstance(model, (str, Path)):
        model = GLiClassModel.from_pretrained(model)
    return ZeroShotMultilabelPipeline(model=model, tokenizer=tokenizer, device=device, task=TASK, **kwargs)
