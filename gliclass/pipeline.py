"""The `zero-shot-multilabel` pipeline (transformers' `Pipeline` contract).

Fast path by default (exact scores): one fast-tokenizer call for a whole list of texts, rows sorted by
length so batches carry little padding, no autograd, CUDA when present, and (for BERT-style
backbones with `first` pooling) the last encoder layer computed only where the heads read.
Streams (generators, `KeyDataset`) are encoded in chunks of texts, yielding one result per text.
"""

from __future__ import annotations

import itertools
import sys
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import GeneratorType
from typing import Any

import numpy as np
import torch
from transformers import Pipeline, PreTrainedTokenizerBase

from .checkpoint import check_marker_tokens
from .label_cache import DEFAULT_MAX_LABELS, LabelVectorCache
from .labels_apart import LabelInput, LabelsApartBatch, LabelsApartInputs, label_model_inputs, load_label_tokenizer
from .model import GLiClassModel
from .options import (
    AGGREGATIONS,
    POSTPROCESS_OPTIONS,
    PREPROCESS_OPTIONS,
    check_batch_size,
    check_device,
    check_flag,
    check_threshold,
    is_per_text,
    labels_per_text,
    prompts_per_text,
)
from .padding import length_sorted_batches, pad_id_of, pad_rows
from .prompt import EncodedRow, PromptEncoder, check_text, format_examples, label_with_description

TASK = "zero-shot-multilabel"
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "default_model"  # shipped with the package; see its README.md
STREAM_CHUNK_TEXTS = 256  # texts encoded together when the input is a stream
HALF_DTYPES = (torch.float16, torch.bfloat16)
INTERNAL_PACKAGES = ("gliclass", "transformers", "torch")  # frames a warning skips to reach the user's code


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

    Follows the transformers pipeline contract: keyword arguments given at construction
    (`candidate_labels`, `threshold`, `top_k`, `multi_label`, `prompt`, `examples`, `windows`,
    `aggregation`, `batch_size`) are the defaults of every call; a string gives one result, a
    list a list, and a generator or `KeyDataset` streams one result per text.

    Args (construction):
        model: a [`GLiClassModel`] (keeps its tokenizer) or, through `gliclass.pipeline`, a path/hub id.
        tokenizer: overrides the model's tokenizer.
        device: `"cpu"`, `"cuda"`, `"cuda:1"`, an index or a `torch.device` (None: CUDA when available).
        dtype: `"auto"` keeps the checkpoint's dtype on accelerators and runs float32 on CPU;
            a `torch.dtype` (or its name) is used as given; None leaves the model as it is.
        max_length: longest encoder input; defaults to the backbone's limit and may not exceed it.
        fast: opt-in approximate speed mode: bfloat16 autocast (CPU with AVX512-BF16/AMX, or GPU);
            scores move by about 1e-2, the top label rarely. The model itself is not changed.
        min_text_tokens: tokens kept for the text before labels are split into groups.
        window_overlap: overlap between text windows when `windows=True`.
        encode_labels_apart: None (default): encode each distinct label once and each text once
            when the model allows it (`model.encodes_labels_apart`, bi-encoders); False: score
            joint rows `[CLS] <<LABEL>>l1 ... <<SEP>> text` even then (same scores, slower).
            Texts encoded apart keep the whole encoder length for themselves.
        label_cache_size: how many label vectors such a pipeline keeps across calls (LRU; 0: none).
            See `encode_labels` and `clear_label_cache`.
    """

    _load_tokenizer = True
    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = False

    def __init__(
        self,
        model: GLiClassModel,
        tokenizer: PreTrainedTokenizerBase | None = None,
        device: int | str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        max_length: int | None = None,
        fast: bool = False,
        min_text_tokens: int = 32,
        window_overlap: int = 64,
        encode_labels_apart: bool | None = None,
        label_cache_size: int = DEFAULT_MAX_LABELS,
        **kwargs: Any,
    ) -> None:
        if not isinstance(model, GLiClassModel):
            raise TypeError(f"model must be a GLiClassModel, got {type(model).__name__}.")
        tokenizer = tokenizer or model.tokenizer
        if tokenizer is None:
            raise ValueError("this model has no tokenizer; pass tokenizer= (the one saved with the model).")
        device = check_device(device)
        if kwargs.get("batch_size") is not None:
            check_batch_size(kwargs["batch_size"])
        if not isinstance(fast, bool):
            raise TypeError(f"fast must be True or False, got {fast!r}.")
        check_marker_tokens(model.config, tokenizer)
        super().__init__(model=model, tokenizer=tokenizer, device=device, **kwargs)
        self.model.eval()
        set_dtype(self.model, dtype, self.device)
        if self._batch_size is None:
            self._batch_size = default_batch_size(self.device)
        self.fast = fast
        if fast:
            _check_fast_mode(self.device)
        limit = backbone_max_length(self.model, tokenizer)
        if max_length is not None and not 8 <= max_length <= limit:
            raise ValueError(f"max_length={max_length} must be between 8 and the backbone's limit {limit}.")
        apart = _check_labels_apart(self.model, encode_labels_apart)
        if apart:
            label_tokenizer = None
            if self.model.config.is_bi_encoder:
                label_tokenizer = self.model.label_tokenizer or load_label_tokenizer(
                    self.model.config, self.model.name_or_path or None
                )
            self.row_builder = LabelsApartInputs.for_model(
                self.model.config, tokenizer, label_tokenizer, max_length or limit, min_text_tokens, window_overlap
            )
            self.label_cache: LabelVectorCache | None = LabelVectorCache(self.model, label_cache_size)
        else:
            self.label_cache = None
            self.row_builder = PromptEncoder(
                tokenizer,
                prompt_first=self.model.config.prompt_first,
                max_length=max_length or limit,
                min_text_tokens=min_text_tokens,
                window_overlap=window_overlap,
            )

    def _sanitize_parameters(self, **kwargs: Any) -> tuple[dict, dict, dict]:
        """Check the call options and route them to preprocess / forward / postprocess."""
        unknown = sorted(set(kwargs) - set(PREPROCESS_OPTIONS) - set(POSTPROCESS_OPTIONS))
        if unknown:
            raise TypeError(
                f"unknown option(s) {', '.join(map(repr, unknown))}; the options are "
                f"{', '.join(PREPROCESS_OPTIONS + POSTPROCESS_OPTIONS)} and batch_size."
            )
        given = {name: value for name, value in kwargs.items() if value is not None}
        if "candidate_labels" in given:
            labels_per_text(given["candidate_labels"], None)
        if "prompt" in given:
            prompts_per_text(given["prompt"], None)
        if "examples" in given:
            format_examples(given["examples"])
        for flag in ("windows", "multi_label"):
            if flag in given:
                given[flag] = check_flag(flag, given[flag])
        if "threshold" in given:
            given["threshold"] = check_threshold(given["threshold"])
        if "top_k" in given:
            given["top_k"] = check_batch_size(given["top_k"], "top_k")
        if "aggregation" in given and given["aggregation"] not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {given['aggregation']!r}.")
        preprocess = {name: value for name, value in given.items() if name in PREPROCESS_OPTIONS}
        postprocess = {name: value for name, value in given.items() if name in POSTPROCESS_OPTIONS}
        return preprocess, {}, postprocess

    def __call__(self, inputs: str | Sequence[str] | Iterable[str], **kwargs: Any) -> Any:
        """Classify one text (returns a dict), a list of texts (a list of dicts), or stream a
        generator / `KeyDataset` of texts (yields one dict per text).

        Each result is `{"sequence", "labels", "scores"}` sorted by score. Options (each defaults
        to the value given at construction):

        - `candidate_labels`: list of strings, one comma-separated string, `{label: description}`,
          or one such set per text (lists of texts only);
        - `multi_label` (True): independent sigmoid scores; False: a softmax over the candidates;
        - `threshold`: keep labels scoring at or above it;
        - `top_k`: keep only the `top_k` best labels (after the threshold);
        - `prompt`: a task description (or one per text) put into the input;
        - `examples`: few-shot examples `[{"text", "labels"}]` put into the input;
        - `windows` (False): score long texts in overlapping windows combined by `aggregation`
          (`max` or `mean` of the logits) instead of cutting them;
        - `batch_size`: encoder rows per forward pass.
        """
        if "batch_size" in kwargs and kwargs["batch_size"] is not None:
            check_batch_size(kwargs["batch_size"])
        if isinstance(inputs, str):
            return super().__call__([inputs], **kwargs)[0]
        if isinstance(inputs, Sequence | np.ndarray) or _is_column(inputs):  # tuples, arrays, Series, columns
            inputs = list(inputs)
        if isinstance(inputs, list) and not inputs:
            raise ValueError("inputs is an empty list; give at least one text.")
        if not isinstance(inputs, list | GeneratorType | torch.utils.data.Dataset) and isinstance(inputs, Iterable):
            inputs = (text for text in inputs)  # any other iterable (an iterator, a map) streams
        return super().__call__(inputs, **kwargs)

    def get_iterator(
        self,
        inputs: Iterable[str],
        num_workers: int,
        batch_size: int,
        preprocess_params: dict,
        forward_params: dict,
        postprocess_params: dict,
    ) -> Iterator[dict[str, Any]]:
        """Results one text at a time: a list is encoded in one go, a stream in chunks of texts."""
        if "candidate_labels" not in preprocess_params:
            raise ValueError("candidate_labels is required (at the call or at construction).")
        return self._results(inputs, batch_size, preprocess_params, postprocess_params)

    def _results(
        self, inputs: Iterable[str], batch_size: int, preprocess_params: dict, postprocess_params: dict
    ) -> Iterator[dict[str, Any]]:
        if isinstance(inputs, list):  # one chunk, checked by preprocess; empty: an empty stream
            chunks: Iterable[list[str]] = [inputs] if inputs else []
        else:
            for name in ("candidate_labels", "prompt"):
                if is_per_text(name, preprocess_params.get(name)):
                    raise ValueError(f"one {name} entry per text needs a list of texts, not a stream.")
            chunks = _checked_chunks(_iterate(inputs), max(STREAM_CHUNK_TEXTS, batch_size))
        cuts = TruncationReport(self.row_builder.max_length)
        for chunk in chunks:
            model_inputs = self.preprocess(chunk, **preprocess_params)
            cuts.add(model_inputs["rows"], len(chunk))
            model_outputs = self.forward(model_inputs, batch_size=batch_size)
            yield from self.postprocess(model_outputs, **postprocess_params)
        cuts.warn()

    def preprocess(
        self,
        inputs: str | Sequence[str],
        candidate_labels: Any = None,
        prompt: str | Sequence[str] | None = None,
        examples: Sequence[dict[str, Any]] | None = None,
        windows: bool = False,
    ) -> dict[str, Any]:
        """Validate the inputs and build the encoder rows."""
        texts = [inputs] if isinstance(inputs, str) else inputs
        if not isinstance(texts, (list, tuple)):
            raise TypeError(f"inputs must be a string or a list of strings, got {type(texts).__name__}.")
        if not texts:
            raise ValueError("inputs is an empty list; give at least one text.")
        texts = [check_text(text, f"text {index}") for index, text in enumerate(texts)]
        labels = labels_per_text(candidate_labels, len(texts))
        prompts = prompts_per_text(prompt, len(texts))
        example_string = format_examples(examples)
        shown = [[label_with_description(label, descriptions) for label in names] for names, descriptions in labels]
        names = [names for names, _ in labels]
        if isinstance(self.row_builder, LabelsApartInputs):
            batch = self.row_builder.build(texts, shown, prompts, [example_string] * len(texts), windows=windows)
            return {"texts": texts, "labels": names, "rows": batch.rows, "labels_apart": batch}
        rows = self.row_builder.encode(texts, shown, prompts, [example_string] * len(texts), windows=windows)
        return {"texts": texts, "labels": names, "rows": rows}

    def _forward(self, model_inputs: dict[str, Any], batch_size: int | None = None) -> dict[str, Any]:
        """Logits of every encoder row, batched by similar length."""
        rows = model_inputs["rows"]
        batch_size = batch_size or self._batch_size
        if "labels_apart" in model_inputs:
            logits = self._forward_apart(model_inputs["labels_apart"], batch_size)
        else:
            logits = [torch.empty(0)] * len(rows)
            for batch, tensors in self._batches([row.input_ids for row in rows], batch_size):
                with self._precision():
                    batch_logits = self.model(**tensors).logits.float().cpu()
                for slot, index in enumerate(batch):
                    logits[index] = batch_logits[slot, : rows[index].label_end - rows[index].label_start]
        return {**model_inputs, "logits": logits}

    def _precision(self) -> torch.autocast:
        """bfloat16 autocast in fast mode; otherwise the model's own dtype."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.fast)

    def _forward_apart(self, batch: LabelsApartBatch, batch_size: int) -> list[torch.Tensor]:
        """Logits of rows whose labels are encoded apart: each distinct label once (or from the
        label cache), then each text row."""
        model = self.model
        vectors = self._label_vectors(batch.labels, batch_size)
        fused = model.config.architecture_type == "bi-encoder-fused"
        logits: list[torch.Tensor] = [torch.empty(0)] * len(batch.rows)
        for rows, tensors in self._batches([row.input_ids for row in batch.rows], batch_size):
            row_labels = [batch.row_labels[index] for index in rows]
            width, dim = max(map(len, row_labels)), vectors[0].shape[-1]
            labels = torch.zeros(len(rows), width, dim, dtype=vectors[0].dtype, device=self.device)
            mask = torch.zeros(labels.shape[:2], dtype=torch.bool, device=self.device)
            for slot, indices in enumerate(row_labels):
                labels[slot, : len(indices)] = torch.stack([vectors[index] for index in indices])
                mask[slot, : len(indices)] = True
            with self._precision():
                if fused:
                    text, labels = model.get_fused_features(
                        tensors["input_ids"], tensors["attention_mask"], labels, mask
                    )
                else:
                    text = model.get_text_features(tensors["input_ids"], tensors["attention_mask"])
                batch_logits = model.score(text, labels, mask).float().cpu()
            for slot, index in enumerate(rows):
                logits[index] = batch_logits[slot, : len(row_labels[slot])]
        return logits

    def _label_vectors(self, labels: Sequence[LabelInput], batch_size: int) -> list[torch.Tensor]:
        """The vector of each label, from the cache where it has one."""
        cached = self.label_cache.lookup(list(labels), mode=self.fast) if self.label_cache is not None else {}
        missing = [index for index, label in enumerate(labels) if label not in cached]
        computed: dict[LabelInput, torch.Tensor] = {}
        label_pad_id = pad_id_of(self.row_builder.label_tokenizer)
        lengths = [labels[index].pooled_length for index in missing]
        for chunk in length_sorted_batches(lengths, batch_size):
            indices = [missing[slot] for slot in chunk]
            inputs = label_model_inputs([labels[index] for index in indices], label_pad_id)
            with self._precision():
                features = self.model.get_label_features(
                    **{name: value.to(self.device) for name, value in inputs.items()}
                )
            computed.update((labels[index], features[slot]) for slot, index in enumerate(indices))
        if self.label_cache is not None:
            self.label_cache.store(computed)
        return [cached[label] if label in cached else computed[label] for label in labels]

    def encode_labels(self, candidate_labels: Any, batch_size: int | None = None) -> int:
        """Compute and cache the vectors of a label set (a list, a comma-separated string or
        `{label: description}`) ahead of calls that use it; returns how many labels are cached now.
        Only for models that encode labels apart (`model.encodes_labels_apart`, bi-encoders)."""
        if self.label_cache is None:
            raise ValueError("this pipeline encodes labels together with each text; there is nothing to cache.")
        [(names, descriptions)] = labels_per_text(candidate_labels, 1)
        shown = [label_with_description(label, descriptions) for label in names]
        self._label_vectors(self.row_builder.label_entries(shown), check_batch_size(batch_size or self._batch_size))
        return len(self.label_cache)

    def clear_label_cache(self) -> None:
        """Forget the cached label vectors (they are also dropped when the weights change)."""
        if self.label_cache is not None:
            self.label_cache.clear()

    def _batches(
        self, sequences: Sequence[Sequence[int]], batch_size: int
    ) -> Iterator[tuple[list[int], dict[str, torch.Tensor]]]:
        """`(indices, padded model inputs)` over `sequences`, batched by similar length."""
        pad_id = pad_id_of(self.tokenizer)
        for batch in length_sorted_batches([len(sequence) for sequence in sequences], batch_size):
            tensors = pad_rows([sequences[index] for index in batch], pad_id)
            yield batch, {name: tensor.to(self.device) for name, tensor in tensors.items()}

    def postprocess(
        self,
        model_outputs: dict[str, Any],
        multi_label: bool = True,
        threshold: float | None = None,
        aggregation: str = "max",
        top_k: int | None = None,
    ) -> list[dict[str, Any]]:
        """Combine windows and label groups per text, then score, filter and sort (best `top_k` kept)."""
        results = []
        for text, text_labels, logits in zip(
            model_outputs["texts"], model_outputs["labels"], _text_logits(model_outputs, aggregation)
        ):
            scores = torch.sigmoid(logits) if multi_label else torch.softmax(logits, dim=-1)
            ranked = sorted(zip(text_labels, scores.tolist()), key=lambda pair: pair[1], reverse=True)
            if threshold is not None:
                ranked = [pair for pair in ranked if pair[1] >= threshold]
            ranked = ranked[:top_k]
            results.append({"sequence": text, "labels": [p[0] for p in ranked], "scores": [p[1] for p in ranked]})
        return results

    def score_texts(self, texts: Sequence[str], candidate_labels: Any = None, **options: Any) -> torch.Tensor:
        """Scores `(texts, labels)` with columns in the order of `candidate_labels` (one label set for
        all texts), for evaluation and bulk use: no result dicts are built. The options are the
        call's (`multi_label`, `prompt`, `examples`, `windows`, `aggregation`, `batch_size`);
        `threshold` and `top_k` do not apply."""
        for unused in ("threshold", "top_k"):
            if unused in options:
                raise TypeError(f"score_texts returns every label's score; {unused} does not apply.")
        batch_size = options.pop("batch_size", None)
        batch_size = self._batch_size if batch_size is None else check_batch_size(batch_size)
        preprocess, _, postprocess = self._sanitize_parameters(candidate_labels=candidate_labels, **options)
        preprocess, postprocess = {**self._preprocess_params, **preprocess}, {**self._postprocess_params, **postprocess}
        if is_per_text("candidate_labels", preprocess.get("candidate_labels")):
            raise ValueError("score_texts takes one label set for all texts.")
        model_inputs = self.preprocess(list(texts), **preprocess)
        cuts = TruncationReport(self.row_builder.max_length)
        cuts.add(model_inputs["rows"], len(model_inputs["texts"]))
        logits = torch.stack(
            _text_logits(self.forward(model_inputs, batch_size=batch_size), postprocess.get("aggregation", "max"))
        )
        cuts.warn()
        return torch.sigmoid(logits) if postprocess.get("multi_label", True) else torch.softmax(logits, dim=-1)


class TruncationReport:
    """Counts the texts that were cut to fit the encoder during one call, and warns once."""

    def __init__(self, max_length: int) -> None:
        self.max_length = max_length
        self.texts = 0
        self.cut: list[int] = []  # tokens dropped, per cut text

    def add(self, rows: Sequence[EncodedRow], texts: int) -> None:
        """Record one chunk's rows (`texts` texts, numbered from 0 within the chunk)."""
        dropped: dict[int, int] = {}
        for row in rows:
            if row.cut_tokens:
                dropped[row.text_index] = max(dropped.get(row.text_index, 0), row.cut_tokens)
        self.cut.extend(dropped.values())
        self.texts += texts

    def warn(self) -> None:
        if self.cut:
            warnings.warn(
                f"{len(self.cut)} of {self.texts} texts did not fit in {self.max_length} tokens (with whatever shares "
                f"their rows: labels, prompt, examples) and were cut: up to {max(self.cut)} tokens dropped "
                f"({sum(self.cut) / len(self.cut):.0f} on average). Pass windows=True to score whole texts in "
                "overlapping windows.",
                UserWarning,
                stacklevel=_caller_stacklevel(),
            )


def _caller_stacklevel() -> int:
    """The `stacklevel` that points a warning at the first caller outside gliclass and transformers."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] in INTERNAL_PACKAGES:
        frame, level = frame.f_back, level + 1
    return level


def score_table(results: Sequence[dict[str, Any]], labels: Sequence[str]) -> torch.Tensor:
    """Pipeline results as a `(texts, labels)` score tensor, columns in the order of `labels`."""
    column = {label: index for index, label in enumerate(labels)}
    table = torch.zeros(len(results), len(labels))
    for row, result in enumerate(results):
        for label, score in zip(result["labels"], result["scores"]):
            table[row, column[label]] = score
    return table


def _text_logits(model_outputs: dict[str, Any], aggregation: str) -> list[torch.Tensor]:
    """Each text's logits over all its labels, in label order: windows combined by `aggregation`,
    label groups concatenated."""
    pieces: list[dict[int, list[torch.Tensor]]] = [{} for _ in model_outputs["texts"]]
    for row, row_logits in zip(model_outputs["rows"], model_outputs["logits"]):
        pieces[row.text_index].setdefault(row.label_start, []).append(row_logits)
    return [torch.cat([_aggregate(groups[start], aggregation) for start in sorted(groups)]) for groups in pieces]


def _aggregate(window_logits: list[torch.Tensor], aggregation: str) -> torch.Tensor:
    stacked = torch.stack(window_logits)
    return stacked.amax(0) if aggregation == "max" else stacked.mean(0)


def _iterate(inputs: Iterable[str]) -> Iterator[str]:
    """Texts of a stream; a map-style dataset (`KeyDataset`) is read by index."""
    if hasattr(inputs, "__len__") and hasattr(inputs, "__getitem__") and not hasattr(inputs, "__iter__"):
        return (inputs[index] for index in range(len(inputs)))
    try:
        return iter(inputs)
    except TypeError as error:
        raise TypeError(
            f"inputs must be a string, a list of strings or a stream of them, got {type(inputs).__name__}."
        ) from error


def _is_column(inputs: Any) -> bool:
    """A sized, indexable column of texts (pandas `Series`, a `datasets` column)."""
    return (
        hasattr(inputs, "__len__")
        and hasattr(inputs, "__getitem__")
        and hasattr(inputs, "__iter__")
        and not (isinstance(inputs, dict | torch.utils.data.Dataset))
    )


def _checked_chunks(texts: Iterator[str], size: int) -> Iterator[list[str]]:
    """Chunks of `size` texts, each text checked and named by its position in the whole stream."""
    counter = itertools.count()
    while chunk := [check_text(text, f"text {next(counter)}") for text in itertools.islice(texts, size)]:
        yield chunk


def set_dtype(model: GLiClassModel, dtype: str | torch.dtype | None, device: torch.device) -> None:
    """Put `model` in `dtype`: `"auto"` runs float32 on CPU (half precision is slow and lossy there)
    and keeps the checkpoint's dtype elsewhere; None leaves the model alone."""
    if dtype is None:
        return
    if dtype == "auto":
        if device.type == "cpu" and model.dtype in HALF_DTYPES:
            model.float()
        return
    resolved = getattr(torch, dtype, None) if isinstance(dtype, str) else dtype
    if not isinstance(resolved, torch.dtype) or not resolved.is_floating_point:
        raise ValueError(
            f"dtype must be 'auto', a floating torch.dtype or its name ('float16', 'half', ...), got {dtype!r}."
        )
    model.to(resolved)


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
    dtype: str | torch.dtype | None = None,
    **kwargs: Any,
) -> ZeroShotMultilabelPipeline:
    """Build the `zero-shot-multilabel` pipeline from a path, a hub id or a model object.

    Same as `transformers.pipeline("zero-shot-multilabel", ...)` once `gliclass` is imported.
    Without `model`, the default model shipped inside the package is used (offline; see
    `gliclass/default_model/README.md`). `device` follows transformers (None: CUDA when available,
    else CPU). `dtype`: None loads float32; `"auto"` and torch dtypes as in the pipeline class.
    Other keyword arguments are the pipeline's options and the defaults of every call.
    """
    if task != TASK:
        raise ValueError(f"gliclass.pipeline only provides the {TASK!r} task, got {task!r}.")
    device = check_device(device)
    if model is None:
        if not (DEFAULT_MODEL_DIR / "config.json").is_file():
            raise OSError(
                f"no model given and the default model is missing from this installation ({DEFAULT_MODEL_DIR}); "
                "pass model= (a GLiClass folder, hub id or GLiClassModel)."
            )
        model = DEFAULT_MODEL_DIR
    if isinstance(model, (str, Path)):
        model = GLiClassModel.from_pretrained(model, dtype=dtype or torch.float32)
    elif not isinstance(model, GLiClassModel):
        raise TypeError(f"model must be a path, a hub id or a GLiClassModel, got {type(model).__name__}.")
    return ZeroShotMultilabelPipeline(model=model, tokenizer=tokenizer, device=device, dtype=dtype, task=TASK, **kwargs)


def _check_labels_apart(model: GLiClassModel, wanted: bool | None) -> bool:
    """Whether the pipeline encodes labels apart from the texts (see `encode_labels_apart`)."""
    possible = model.config.is_bi_encoder or model.encodes_labels_apart
    if wanted is None:
        return possible
    if not isinstance(wanted, bool):
        raise TypeError(f"encode_labels_apart must be True, False or None, got {wanted!r}.")
    if wanted and not possible:
        raise ValueError("encode_labels_apart=True: this model encodes labels together with the text.")
    if not wanted and model.config.is_bi_encoder:
        raise ValueError("encode_labels_apart=False: a bi-encoder always encodes its labels apart.")
    return wanted
