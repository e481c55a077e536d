"""The `zero-shot-multilabel` pipeline (transformers' `Pipeline` contract).

Fast path by default (exact scores): one fast-tokenizer call for a whole list of texts, rows sorted by
length so batches carry little padding, no autograd, CUDA when present, and (for BERT-style
backbones with `first` pooling) the last encoder layer computed only where the heads read.
Streams (generators, `KeyDataset`) are encoded in chunks of texts, yielding one result per text.
"""

from __future__ import annotations

import itertools
import logging
import sys
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from pathlib import Path
from types import GeneratorType
from typing import Any

import numpy as np
import torch
from transformers import AutoTokenizer, Pipeline, PreTrainedTokenizerBase

from .calibration import MIN_TRANSDUCTIVE_TEXTS, recentre, with_label_biases
from .checkpoint import HUB_OPTIONS, check_marker_tokens, check_save_folder, save_tokenizer
from .copyable_lock import CopyableLock
from .example_evidence import EXAMPLE_WEIGHT, ExampleEvidence
from .label_cache import DEFAULT_MAX_LABELS, LabelVectorCache, label_fingerprint
from .labels_apart import LabelInput, LabelsApartBatch, LabelsApartInputs, label_model_inputs, load_label_tokenizer
from .model import GLiClassModel, GLiClassOutput
from .options import (
    AGGREGATIONS,
    POSTPROCESS_OPTIONS,
    PREPROCESS_OPTIONS,
    check_batch_size,
    check_device,
    check_flag,
    check_hypothesis_template,
    check_num_workers,
    check_threshold,
    is_per_text,
    labels_per_text,
    prompts_per_text,
)
from .padding import length_sorted_batches, pad_id_of, pad_rows
from .prompt import EncodedRow, PromptEncoder, check_text, format_examples, is_table, label_with_description
from .shortlist import Shortlister

TASK = "zero-shot-multilabel"
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "default_model"  # shipped with the package; see its README.md
STREAM_CHUNK_TEXTS = 256  # texts encoded together when the input is a stream
HALF_DTYPES = (torch.float16, torch.bfloat16)
INTERNAL_PACKAGES = ("gliclass", "transformers", "torch")  # frames a warning skips to reach the user's code
# The reference pipeline's input length, used for backbones with relative positions only (no position limit).
REFERENCE_MAX_LENGTH = 1024
LIMITS = ("threshold", "top_k", "shortlist")  # options that None, given to a call, turns off


class ShippedModelNotice(logging.Filter):
    """Drops transformers' "No model was supplied, defaulted to ... not recommended" warning when the
    default is the model shipped in this package: it is pinned by the installed package version, so
    the advice to name a model and revision does not apply. Any other default keeps the warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(f"No model was supplied, defaulted to {DEFAULT_MODEL_DIR} ")


def default_batch_size(device: torch.device) -> int:
    """Rows per forward pass: small on CPU (cache-friendly), larger on accelerators."""
    return 32 if device.type == "cpu" else 128


def model_tokenizer(
    model: GLiClassModel, tokenizer: PreTrainedTokenizerBase | str | Path | None = None
) -> PreTrainedTokenizerBase:
    """`tokenizer` (loaded when a path or hub id), else the model's own; `ValueError` when neither."""
    if isinstance(tokenizer, (str, Path)):
        tokenizer = AutoTokenizer.from_pretrained(tokenizer)
    tokenizer = tokenizer or model.tokenizer
    if tokenizer is None:
        raise ValueError(
            "this model has no tokenizer: save its tokenizer files in the model folder, or pass tokenizer=."
        )
    return tokenizer


def backbone_max_length(model: GLiClassModel, tokenizer: PreTrainedTokenizerBase) -> int:
    """The longest input the backbone supports (tokenizer limit and position embeddings); for a
    backbone with relative positions only (DeBERTa-v2/v3), the reference pipeline's input length."""
    encoder = model.config.encoder_config
    if encoder.model_type == "deberta-v2" and not getattr(encoder, "position_biased_input", True):
        return REFERENCE_MAX_LENGTH
    limits = []
    if 0 < getattr(tokenizer, "model_max_length", 0) < 100_000:
        limits.append(int(tokenizer.model_max_length))
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
        tokenizer: overrides the model's tokenizer (a tokenizer, or a path or hub id to load one from).
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
        example_weight: for models that encode labels apart, how far few-shot `examples` move each
            label's vector along what sets its examples apart (`gliclass.example_evidence`); other
            models read examples in their input.
        shortlister: the model that picks each text's labels for `shortlist=K` calls: a labels-apart
            pipeline or `GLiClassModel`, or its path / hub id (default: this pipeline where its model
            encodes labels apart, else the shipped model, loaded on first use). See `gliclass/shortlist.py`.
    """

    _load_tokenizer = False  # the model brings its own (`model.tokenizer`); transformers would load another
    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = False

    def __init__(
        self,
        model: GLiClassModel,
        tokenizer: PreTrainedTokenizerBase | str | Path | None = None,
        device: int | str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        max_length: int | None = None,
        fast: bool = False,
        min_text_tokens: int = 32,
        window_overlap: int = 64,
        encode_labels_apart: bool | None = None,
        label_cache_size: int = DEFAULT_MAX_LABELS,
        example_weight: float = EXAMPLE_WEIGHT,
        shortlister: Any = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(model, GLiClassModel):
            raise TypeError(f"model must be a GLiClassModel, got {type(model).__name__}.")
        tokenizer = model_tokenizer(model, tokenizer)
        device = check_device(device)
        if kwargs.get("batch_size") is not None:
            check_batch_size(kwargs["batch_size"])
        if kwargs.get("num_workers") is not None:
            _check_workers(kwargs["num_workers"])
        if not isinstance(fast, bool):
            raise TypeError(f"fast must be True or False, got {fast!r}.")
        check_marker_tokens(model.config, tokenizer)
        super().__init__(model=model, tokenizer=tokenizer, device=device, **kwargs)
        self.model.eval()
        self._eval_mode_lock = CopyableLock()  # calls from several threads share one eval-mode switch
        self._eval_mode_calls = 0
        self._training_modules: list[torch.nn.Module] = []
        set_dtype(self.model, dtype, self.device)
        if self._batch_size is None:
            self._batch_size = default_batch_size(self.device)
        self.fast = fast
        if isinstance(example_weight, bool) or not isinstance(example_weight, (int, float)) or not example_weight > 0:
            raise ValueError(f"example_weight must be a positive number, got {example_weight!r}.")
        self.example_weight = float(example_weight)
        if fast:
            _check_fast_mode(self.device)
        limit = backbone_max_length(self.model, tokenizer)
        if max_length is not None and not 8 <= max_length <= limit:
            raise ValueError(f"max_length={max_length} must be between 8 and the backbone's limit {limit}.")
        if isinstance(min_text_tokens, bool) or not isinstance(min_text_tokens, int) or min_text_tokens < 1:
            raise ValueError(f"min_text_tokens must be a positive integer, got {min_text_tokens!r}.")
        # a large window_overlap is fine: at most half a window overlaps
        if isinstance(window_overlap, bool) or not isinstance(window_overlap, int) or window_overlap < 0:
            raise ValueError(f"window_overlap must be an integer of at least 0, got {window_overlap!r}.")
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
            self.reads_examples_as_evidence = self.model.config.architecture_type != "bi-encoder-fused"
        else:
            self.label_cache = None
            self.reads_examples_as_evidence = False
            self.row_builder = PromptEncoder(
                tokenizer,
                prompt_first=self.model.config.prompt_first,
                max_length=max_length or limit,
                min_text_tokens=min_text_tokens,
                window_overlap=window_overlap,
            )
        if shortlister is None and self.label_cache is not None:  # it ranks all labels cheaply itself
            shortlister = self
        self.shortlister = Shortlister(shortlister, device=self.device)

    def _sanitize_parameters(self, **kwargs: Any) -> tuple[dict, dict, dict]:
        """Check the call options and route them to preprocess / forward / postprocess."""
        framework = kwargs.pop("framework", None)  # transformers 4 callers name the backend; ours is PyTorch
        if framework not in (None, "pt"):
            raise ValueError(f"gliclass runs on PyTorch: framework must be 'pt', got {framework!r}.")
        unknown = sorted(set(kwargs) - set(PREPROCESS_OPTIONS) - set(POSTPROCESS_OPTIONS))
        if unknown:
            raise TypeError(
                f"unknown option(s) {', '.join(map(repr, unknown))}; the options are "
                f"{', '.join(PREPROCESS_OPTIONS + POSTPROCESS_OPTIONS)} and batch_size."
            )
        given = {name: value for name, value in kwargs.items() if value is not None}
        if "candidate_labels" in given:
            labels_per_text(given["candidate_labels"], None)
        if "hypothesis_template" in given:
            check_hypothesis_template(given["hypothesis_template"])
        if "prompt" in given:
            prompts_per_text(given["prompt"], None)
        if "examples" in given:
            format_examples(given["examples"])
        for flag in ("windows", "multi_label", "transductive"):
            if flag in given:
                given[flag] = check_flag(flag, given[flag])
        if "threshold" in given:
            given["threshold"] = check_threshold(given["threshold"])
        if "shortlist" in given:
            given["shortlist"] = check_batch_size(given["shortlist"], "shortlist")
        if "top_k" in given:
            given["top_k"] = check_batch_size(given["top_k"], "top_k")
        if "aggregation" in given and given["aggregation"] not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {given['aggregation']!r}.")
        given |= {name: None for name in LIMITS if name in kwargs and kwargs[name] is None}  # turned off
        preprocess = {name: value for name, value in given.items() if name in PREPROCESS_OPTIONS}
        postprocess = {name: value for name, value in given.items() if name in POSTPROCESS_OPTIONS}
        return preprocess, {}, postprocess

    def __call__(
        self,
        inputs: str | Sequence[str] | Iterable[str] | None = None,
        candidate_labels: Any = None,
        *,
        sequences: str | Sequence[str] | Iterable[str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Classify one text (returns a dict), a list of texts (a list of dicts), or stream a
        generator / `KeyDataset` of texts (yields one dict per text).

        As with transformers' zero-shot-classification pipeline, `candidate_labels` may come second
        (`clf(text, ["sports", "politics"])`) and the texts may be named `sequences=`.

        Each result is `{"sequence", "labels", "scores"}` sorted by score. Options (each defaults
        to the value given at construction; `threshold=None`, `top_k=None` or `shortlist=None`
        turns off one given there):

        - `candidate_labels`: list of strings, one comma-separated string, `{label: description}`,
          or one such set per text (lists of texts only);
        - `multi_label` (True): independent sigmoid scores; False: a softmax over the candidates;
        - `threshold`: keep labels scoring at or above it;
        - `top_k`: keep only the `top_k` best labels (after the threshold);
        - `transductive` (False): re-centre each label's scores over the texts of this call (a list,
          or each chunk of 256 texts of a stream, whatever `batch_size`), so a label that attracts
          every text loses its pull; needs at least two texts (`gliclass.calibration.recentre`);
        - `shortlist`: K; the `shortlister` picks each text's K best labels and only those are scored
          (and returned; `multi_label=False` is then a softmax over them);
        - `hypothesis_template`: as in transformers' zero-shot-classification, a string whose `{}`
          each label fills (`"This example is {}."`); the filled string is encoded in place of the
          label (results keep the label names). The shipped model was trained on bare label names;
        - `prompt`: a task description (or one per text) put into the input;
        - `examples`: few-shot examples `[{"text", "labels"}]` put into the input;
        - `windows` (False): score long texts in overlapping windows combined by `aggregation`
          (`max` or `mean` of the logits) instead of cutting them;
        - `batch_size`: encoder rows per forward pass;
        - `num_workers`: taken as transformers takes it, without effect (no DataLoader workers; above 1 it warns).
        """
        if sequences is not None:
            if inputs is not None:
                raise TypeError("the texts were given twice: as inputs and as sequences; give one.")
            inputs = sequences
        if inputs is None:
            raise TypeError("no texts given: pass a string, a list of strings or a stream of them.")
        if isinstance(inputs, Mapping | AbstractSet | bytes | bytearray):  # iterating them gives keys, no order, ints
            raise TypeError(
                f"inputs must be a string, a list of strings or a stream of them, got {type(inputs).__name__}."
            )
        if is_table(inputs) or hasattr(inputs, "column_names"):  # pandas; datasets' Dataset / IterableDataset
            raise TypeError(
                f"inputs is a table ({type(inputs).__name__}); pass its text column, e.g. df['text'] or "
                "dataset['text'] (read whole), or KeyDataset(dataset, 'text') (streamed)."
            )
        if isinstance(inputs, np.ndarray) and inputs.ndim != 1:
            raise TypeError(f"inputs must be a 1-d array of strings, got a {inputs.ndim}-d array.")
        if candidate_labels is not None:
            kwargs["candidate_labels"] = candidate_labels
        if "batch_size" in kwargs and kwargs["batch_size"] is not None:
            check_batch_size(kwargs["batch_size"])
        if kwargs.get("num_workers") is not None:
            _check_workers(kwargs["num_workers"])
        if isinstance(inputs, str):
            return super().__call__([inputs], **kwargs)[0]
        if isinstance(inputs, Sequence | np.ndarray) or _is_column(inputs):  # tuples, arrays, Series, columns
            inputs = list(inputs)
        if isinstance(inputs, list) and not inputs:
            raise ValueError("inputs is an empty list; give at least one text.")
        if not isinstance(inputs, list | GeneratorType) and isinstance(inputs, Iterable | torch.utils.data.Dataset):
            # any other iterable (an iterator, a map) or dataset streams; transformers would read an empty
            # dataset's first item (an IndexError) where an empty generator gives no results
            inputs = (text for text in _iterate(inputs))
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
            transductive = postprocess_params.get("transductive", False)
            least = MIN_TRANSDUCTIVE_TEXTS if transductive else 1
            # re-centred chunks hold STREAM_CHUNK_TEXTS texts whatever the batch size: scores never depend on it
            size = STREAM_CHUNK_TEXTS if transductive else max(STREAM_CHUNK_TEXTS, batch_size)
            chunks = _checked_chunks(_iterate(inputs), size, least)
        cuts = TruncationReport(self.row_builder.max_length)
        try:
            for chunk in chunks:
                model_inputs = self.preprocess(chunk, **preprocess_params)
                cuts.add(model_inputs["rows"], len(chunk))
                model_outputs = self.forward(model_inputs, batch_size=batch_size)
                yield from self.postprocess(model_outputs, **postprocess_params)
        finally:  # also when a stream is left early: results of cut texts were given out
            cuts.warn()

    def preprocess(
        self,
        inputs: str | Sequence[str],
        candidate_labels: Any = None,
        prompt: str | Sequence[str] | None = None,
        examples: Sequence[dict[str, Any]] | None = None,
        windows: bool = False,
        shortlist: int | None = None,
        hypothesis_template: str | None = None,
    ) -> dict[str, Any]:
        """Validate the inputs and build the encoder rows (of each text's `shortlist` best labels)."""
        texts = [inputs] if isinstance(inputs, str) else inputs
        if not isinstance(texts, (list, tuple)):
            raise TypeError(f"inputs must be a string or a list of strings, got {type(texts).__name__}.")
        if not texts:
            raise ValueError("inputs is an empty list; give at least one text.")
        texts = [check_text(text, f"text {index}") for index, text in enumerate(texts)]
        labels = labels_per_text(candidate_labels, len(texts))
        if shortlist is not None:
            labels = self.shortlister(texts, labels, shortlist, windows=windows)
        prompts = prompts_per_text(prompt, len(texts))
        shown = _shown_labels(labels, hypothesis_template)
        names = [names for names, _ in labels]
        example_string = format_examples(examples)
        evidence = None
        if examples and self.reads_examples_as_evidence:  # label evidence, not text appended to every row
            evidence = ExampleEvidence.build(examples, self.row_builder.text_rows, names, shown, self.example_weight)
            example_string = ""
        if isinstance(self.row_builder, LabelsApartInputs):
            batch = self.row_builder.build(texts, shown, prompts, [example_string] * len(texts), windows=windows)
            return {
                "texts": texts,
                "labels": names,
                "rows": batch.rows,
                "labels_apart": batch,
                "example_evidence": evidence,
            }
        rows = self.row_builder.encode(texts, shown, prompts, [example_string] * len(texts), windows=windows)
        return {"texts": texts, "labels": names, "rows": rows}

    def forward(self, model_inputs: dict[str, Any], **forward_params: Any) -> dict[str, Any]:
        """`_forward` without autograd, in eval mode. Unlike the base class, the inputs and outputs
        are not walked to move tensors (`_forward` moves its own and returns logits on the CPU): with
        thousands of labels per text that walk would visit every label name."""
        with self.device_placement(), self.get_inference_context()(), self._eval_mode():
            return self._forward(model_inputs, **forward_params)

    @contextmanager
    def _eval_mode(self) -> Iterator[None]:
        """The model in eval mode (no dropout) meanwhile; modules left in training mode by the
        caller (`model.train()` during fine-tuning) are put back in it once the last of the calls
        running at the same time (threads sharing this pipeline) ends."""
        with self._eval_mode_lock:
            if self._eval_mode_calls == 0:
                self._training_modules = [module for module in self.model.modules() if module.training]
                for module in self._training_modules:
                    module.training = False
            self._eval_mode_calls += 1
        try:
            yield
        finally:
            with self._eval_mode_lock:
                self._eval_mode_calls -= 1
                if self._eval_mode_calls == 0:
                    for module in self._training_modules:
                        module.training = True
                    self._training_modules = []

    def _forward(
        self, model_inputs: dict[str, Any], batch_size: int | None = None, embeddings: bool = False
    ) -> dict[str, Any]:
        """Logits of every encoder row, batched by similar length; with `embeddings`, also each row's
        `(text vector, label vectors)` as the model scored them (`"embeddings"`)."""
        rows = model_inputs["rows"]
        batch_size = batch_size or self._batch_size
        vectors = [(torch.empty(0), torch.empty(0))] * len(rows) if embeddings else None
        if "labels_apart" in model_inputs:
            logits = self._forward_apart(
                model_inputs["labels_apart"], batch_size, model_inputs["example_evidence"], vectors
            )
        else:
            logits = [torch.empty(0)] * len(rows)
            for batch, tensors in self._batches([row.input_ids for row in rows], batch_size):
                with self._precision():
                    output = self.model(**tensors)
                batch_logits = output.logits.float().cpu()
                for slot, index in enumerate(batch):
                    labels = rows[index].label_end - rows[index].label_start
                    logits[index] = batch_logits[slot, :labels]
                    if vectors is not None:
                        vectors[index] = _scored_vectors(output, slot, labels)
        return {**model_inputs, "logits": logits, "embeddings": vectors}

    def _precision(self) -> torch.autocast:
        """bfloat16 autocast in fast mode; otherwise the model's own dtype."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.fast)

    def _forward_apart(
        self,
        batch: LabelsApartBatch,
        batch_size: int,
        evidence: ExampleEvidence | None = None,
        scored_vectors: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> list[torch.Tensor]:
        """Logits of rows whose labels are encoded apart: each distinct label once (or from the
        label cache; moved towards its few-shot examples when there are some), then each text row.
        A `scored_vectors` list (one slot per row) gets each row's `(text vector, label vectors)`."""
        model = self.model
        vectors = self._label_vectors(batch.labels, batch_size)
        table = torch.stack(vectors)  # (distinct labels, dim)
        if evidence is not None:
            example_vectors = self._text_vectors(evidence.rows, batch_size)
            moved_table = torch.stack(evidence.moved(vectors, batch.labels, example_vectors))
        fused = model.config.architecture_type == "bi-encoder-fused"
        logits: list[torch.Tensor] = [torch.empty(0)] * len(batch.rows)
        for rows, tensors in self._batches([row.input_ids for row in batch.rows], batch_size):
            row_labels = [batch.row_labels[index] for index in rows]
            labels, mask = _row_label_vectors(table, row_labels, shared_view=not fused)
            with self._precision():
                if fused:
                    text, labels = model.get_fused_features(
                        tensors["input_ids"], tensors["attention_mask"], labels, mask
                    )
                else:
                    text = model.get_text_features(tensors["input_ids"], tensors["attention_mask"])
                if evidence is None:
                    batch_logits = model.score(text, labels, mask)
                else:
                    moved, _ = _row_label_vectors(moved_table, row_labels, shared_view=True)
                    batch_logits = evidence.centred_logits(model.score, text, labels, moved, mask, example_vectors)
                batch_logits = batch_logits.float().cpu()
            for slot, index in enumerate(rows):
                logits[index] = batch_logits[slot, : len(row_labels[slot])]
                if scored_vectors is not None:
                    scored_vectors[index] = (
                        text[slot].float().cpu(),
                        labels[slot, : len(row_labels[slot])].float().cpu(),
                    )
        return logits

    def _text_vectors(self, rows: Sequence[EncodedRow], batch_size: int) -> torch.Tensor:
        """`(rows, dim)` text vectors of `rows` (one per text, no windows)."""
        vectors: list[torch.Tensor] = [torch.empty(0)] * len(rows)
        for indices, tensors in self._batches([row.input_ids for row in rows], batch_size):
            with self._precision():
                features = self.model.get_text_features(tensors["input_ids"], tensors["attention_mask"])
            for slot, index in enumerate(indices):
                vectors[index] = features[slot]
        return torch.stack(vectors)

    def _label_vectors(self, labels: Sequence[LabelInput], batch_size: int) -> list[torch.Tensor]:
        """The vector of each label, from the cache where it has one."""
        cached = self.label_cache.lookup(list(labels), mode=self.fast) if self.label_cache is not None else {}
        missing = [label for label in labels if label not in cached]
        computed = dict(zip(missing, self._compute_label_vectors(missing, batch_size)))
        if self.label_cache is not None:
            self.label_cache.store(computed)
        return [cached[label] if label in cached else computed[label] for label in labels]

    def _compute_label_vectors(self, labels: Sequence[LabelInput], batch_size: int) -> list[torch.Tensor]:
        """The vector of each label, computed by the model (batched by similar length)."""
        vectors: list[torch.Tensor] = [torch.empty(0)] * len(labels)
        label_pad_id = pad_id_of(self.row_builder.label_tokenizer)
        for chunk in length_sorted_batches([label.pooled_length for label in labels], batch_size):
            inputs = label_model_inputs([labels[index] for index in chunk], label_pad_id)
            with torch.no_grad(), self._eval_mode(), self._precision():
                features = self.model.get_label_features(
                    **{name: value.to(self.device) for name, value in inputs.items()}
                )
            for slot, index in enumerate(chunk):
                vectors[index] = features[slot]
        return vectors

    def encode_labels(
        self, candidate_labels: Any, batch_size: int | None = None, hypothesis_template: str | None = None
    ) -> int:
        """Compute and cache the vectors of a label set (a list, a comma-separated string or
        `{label: description}`) ahead of calls that use it; returns how many labels are cached now.
        The labels are filled into `hypothesis_template` as calls fill them (None: the pipeline's
        own, if it has one). Only for models that encode labels apart (`model.encodes_labels_apart`,
        bi-encoders)."""
        if self.label_cache is None:
            raise ValueError("this pipeline encodes labels together with each text; there is nothing to cache.")
        if hypothesis_template is None:
            hypothesis_template = self._preprocess_params.get("hypothesis_template")
        else:
            check_hypothesis_template(hypothesis_template)
        [shown] = _shown_labels(labels_per_text(candidate_labels, 1), hypothesis_template)
        self._label_vectors(self.row_builder.label_entries(shown), self._call_batch_size(batch_size))
        return len(self.label_cache)

    def save_pretrained(self, save_directory: str | Path, **kwargs: Any) -> None:
        """Save the model with this pipeline's tokenizer (keyword arguments go to the model's
        `save_pretrained`). Unlike transformers' own, no copy of this library's code is written and
        the config gets no `custom_pipelines`: transformers would then load the folder only with
        `trust_remote_code=True`, running that copy instead of the installed library."""
        self.model.save_pretrained(save_directory, **kwargs)
        if self.tokenizer is not self.model.tokenizer:
            save_tokenizer(self.tokenizer, check_save_folder(save_directory))

    def clear_label_cache(self) -> None:
        """Forget the cached label vectors (they are also dropped when the weights change)."""
        if self.label_cache is not None:
            self.label_cache.clear()

    def save_label_vectors(self, path: str | Path) -> int:
        """Write the cached label vectors (e.g. after `encode_labels(taxonomy)`) to a safetensors
        file, with their labels and a fingerprint of this model and precision; returns how many."""
        if self.label_cache is None:
            raise ValueError("this pipeline encodes labels together with each text; there are no label vectors.")
        return self.label_cache.save(path, self._label_fingerprint(), mode=self.fast)

    def load_label_vectors(self, path: str | Path) -> int:
        """Load label vectors saved by `save_label_vectors` into the label cache; returns how many
        it holds now. Raises `ValueError` when they were made by another model (or tokenizer), other
        weights or another precision (dtype, `fast`), `OSError` when the file is missing."""
        if self.label_cache is None:
            raise ValueError("this pipeline encodes labels together with each text; it cannot use label vectors.")
        return self.label_cache.load(
            path,
            self._label_fingerprint(),
            lambda labels: self._compute_label_vectors(labels, self._batch_size),
            self.row_builder.label_ids,
            mode=self.fast,
        )

    def _label_fingerprint(self) -> dict[str, Any]:
        precision = "bfloat16-autocast" if self.fast else str(self.model.dtype).removeprefix("torch.")
        return label_fingerprint(self.model, precision)

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
        transductive: bool = False,
    ) -> list[dict[str, Any]]:
        """Combine windows and label groups per text, then score, filter and sort (best `top_k` kept)."""
        results = []
        decision_logits = self._decision_logits(model_outputs, aggregation, transductive)
        for text, text_labels, logits in zip(model_outputs["texts"], model_outputs["labels"], decision_logits):
            scores = torch.sigmoid(logits) if multi_label else torch.softmax(logits, dim=-1)
            scores, order = torch.sort(scores, descending=True, stable=True)  # ties keep label order
            kept = len(scores) if threshold is None else int((scores >= threshold).sum())
            kept = kept if top_k is None else min(kept, top_k)
            results.append(
                {
                    "sequence": text,
                    "labels": [text_labels[index] for index in order[:kept].tolist()],
                    "scores": scores[:kept].tolist(),
                }
            )
        return results

    def _decision_logits(
        self, model_outputs: dict[str, Any], aggregation: str, transductive: bool
    ) -> list[torch.Tensor]:
        """Each text's logits: windows and label groups combined, (`transductive=True`) re-centred
        over the texts of the call, then the model's `label_biases` added (re-centring after them
        would cancel them)."""
        logits = _text_logits(model_outputs, aggregation)
        if transductive:
            logits = recentre(logits, model_outputs["labels"])
        biases = self.model.config.label_biases
        return [
            with_label_biases(text_logits, labels, biases)
            for text_logits, labels in zip(logits, model_outputs["labels"])
        ]

    def score_texts(self, texts: str | Sequence[str], candidate_labels: Any = None, **options: Any) -> torch.Tensor:
        """Scores `(texts, labels)` with columns in the order of `candidate_labels` (one label set for
        all texts), for evaluation and bulk use: no result dicts are built. The options are the
        call's (`multi_label`, `prompt`, `examples`, `windows`, `aggregation`, `transductive`,
        `batch_size`); `threshold`, `top_k` and `shortlist` do not apply."""
        logits = self.text_logits(texts, candidate_labels, **options)
        given = options.get("multi_label")
        multi_label = (
            self._postprocess_params.get("multi_label", True) if given is None else check_flag("multi_label", given)
        )
        return torch.sigmoid(logits) if multi_label else torch.softmax(logits, dim=-1)

    def text_logits(self, texts: str | Sequence[str], candidate_labels: Any = None, **options: Any) -> torch.Tensor:
        """The logits `(texts, labels)` behind `score_texts` (windows combined, re-centred with
        `transductive`, label biases added): what its sigmoid or softmax is taken of."""
        for unused in ("threshold", "top_k", "shortlist"):
            if unused in options:
                raise TypeError(f"score_texts returns every label's score; {unused} does not apply.")
        given = self._preprocess_params.get("candidate_labels") if candidate_labels is None else candidate_labels
        if is_per_text("candidate_labels", given):
            raise ValueError("score_texts takes one label set for all texts.")
        model_inputs, postprocess, batch_size = self._prepared_inputs(texts, candidate_labels, options)
        return torch.stack(
            self._decision_logits(
                self.forward(model_inputs, batch_size=batch_size),
                postprocess.get("aggregation", "max"),
                postprocess.get("transductive", False),
            )
        )

    def get_embeddings(
        self, texts: str | Sequence[str], candidate_labels: Any = None, **options: Any
    ) -> list[dict[str, torch.Tensor]]:
        """For each text, `{"logits", "text_embedding", "label_embeddings"}`: the model's logits
        `(labels,)` (before `label_biases`) and the projected vectors it scored them with, the text's
        `(dim,)` (with `pooling_strategy='pass'`, one per text token: `(tokens, dim)`) and its labels'
        `(labels, dim)` in the order given. A joint model's vectors are those of the text read with
        its labels, so each text and its labels must fit in one encoder input (the text is cut to
        fit). `candidate_labels` may be one set per text. Options: `prompt`, `examples` (not for
        models that read them as label evidence), `hypothesis_template`, `batch_size`."""
        refused = sorted(set(options) - {"prompt", "examples", "hypothesis_template", "batch_size"})
        if refused:
            raise TypeError(
                f"get_embeddings takes prompt, examples, hypothesis_template and batch_size, not {', '.join(refused)}."
            )
        model_inputs, _, batch_size = self._prepared_inputs(texts, candidate_labels, {**options, "windows": False})
        if model_inputs.get("example_evidence") is not None:
            raise ValueError(
                "this model reads examples= as evidence that moves its label scores, not in its input: "
                "get_embeddings has no vectors for them; call it without examples."
            )
        rows = model_inputs["rows"]
        if len(rows) != len(model_inputs["texts"]):
            split = next(index for index, count in Counter(row.text_index for row in rows).items() if count > 1)
            raise ValueError(
                f"text {split} and its {len(model_inputs['labels'][split])} labels do not fit in one encoder input "
                f"({self.row_builder.max_length} tokens): get_embeddings needs one per text; give fewer labels."
            )
        outputs = self.forward(model_inputs, batch_size=batch_size, embeddings=True)
        results: list[dict[str, torch.Tensor]] = [{}] * len(rows)
        for row, logits, (text, labels) in zip(rows, outputs["logits"], outputs["embeddings"]):
            results[row.text_index] = {"logits": logits, "text_embedding": text, "label_embeddings": labels}
        return results

    def _call_batch_size(self, batch_size: Any) -> int:
        """A call's `batch_size`, checked, or the pipeline's own when the call gives none."""
        return self._batch_size if batch_size is None else check_batch_size(batch_size)

    def _prepared_inputs(
        self, texts: str | Sequence[str], candidate_labels: Any, options: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any], int]:
        """`preprocess` of `texts` for a call scoring every label (options over the construction
        defaults, no shortlist), its postprocess options and batch size; warns about cut texts."""
        options = dict(options)
        batch_size = self._call_batch_size(options.pop("batch_size", None))
        preprocess, _, postprocess = self._sanitize_parameters(candidate_labels=candidate_labels, **options)
        preprocess, postprocess = {**self._preprocess_params, **preprocess}, {**self._postprocess_params, **postprocess}
        preprocess.pop("shortlist", None)  # a construction default: every label is scored here
        model_inputs = self.preprocess([texts] if isinstance(texts, str) else list(texts), **preprocess)
        cuts = TruncationReport(self.row_builder.max_length)
        cuts.add(model_inputs["rows"], len(model_inputs["texts"]))
        cuts.warn()
        return model_inputs, postprocess, batch_size


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
            warnings.warn(TruncationWarning(self.max_length, self.texts, self.cut), stacklevel=_caller_stacklevel())


class TruncationWarning(UserWarning):
    """`texts` texts were scored, and those in `cut` were cut to fit `max_length` tokens (`cut`: the
    tokens each lost). Warnings of several calls add up with `merged`."""

    def __init__(self, max_length: int, texts: int, cut: list[int]) -> None:
        super().__init__(max_length, texts, cut)  # the args pickle back (worker processes)
        self.max_length, self.texts, self.cut = max_length, texts, list(cut)

    def __str__(self) -> str:
        return (
            f"{len(self.cut)} of {self.texts} texts did not fit in {self.max_length} tokens (with whatever shares "
            f"their rows: labels, prompt, examples) and were cut: up to {max(self.cut)} tokens dropped "
            f"({sum(self.cut) / len(self.cut):.0f} on average). Pass windows=True (--windows on the command "
            "line) to score whole texts in overlapping windows."
        )

    @staticmethod
    def merged(warnings_: Sequence[TruncationWarning]) -> TruncationWarning:
        """One warning for all of `warnings_` (of one `max_length`)."""
        cut = [tokens for warning in warnings_ for tokens in warning.cut]
        return TruncationWarning(warnings_[0].max_length, sum(warning.texts for warning in warnings_), cut)


def _check_workers(num_workers: Any) -> None:
    """Check transformers' `num_workers` and warn above 1: this pipeline starts no DataLoader workers."""
    if check_num_workers(num_workers) > 1:
        warnings.warn(
            f"num_workers={num_workers} has no effect: this pipeline encodes each list of texts (or chunk of a "
            "stream) with one fast-tokenizer call in this process, without DataLoader workers; for worker "
            "processes, use gliclass classify --num-processes.",
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


def _shown_labels(labels: Sequence[tuple[list[str], dict[str, str]]], template: str | None = None) -> list[list[str]]:
    """Each text's labels as shown in its input (`name` or `name: description`, filled into the
    `hypothesis_template` when there is one); a label set that several texts share (the same
    object) is formatted once, and the texts share the result."""
    shown: dict[int, list[str]] = {}
    for names, descriptions in labels:
        if id(names) not in shown:
            row = [label_with_description(label, descriptions) for label in names]
            shown[id(names)] = row if template is None else [template.format(label) for label in row]
    return [shown[id(names)] for names, _ in labels]


def _row_label_vectors(
    table: torch.Tensor, row_labels: Sequence[Sequence[int]], shared_view: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Label vectors `(rows, labels, dim)` of each row (rows of `table`, zero-padded) and their mask.

    When every row scores the same labels and `shared_view`, the rows share one `(labels, dim)`
    block (an expanded view, not copied per row)."""
    width = max(map(len, row_labels))
    if shared_view and all(indices == row_labels[0] for indices in row_labels):
        index = torch.tensor(row_labels[0], device=table.device)
        mask = torch.ones(len(row_labels), width, dtype=torch.bool, device=table.device)
        return table[index].expand(len(row_labels), -1, -1), mask
    index = torch.zeros(len(row_labels), width, dtype=torch.long)
    mask = torch.zeros(len(row_labels), width, dtype=torch.bool)
    for slot, indices in enumerate(row_labels):
        index[slot, : len(indices)] = torch.tensor(indices, dtype=torch.long)
        mask[slot, : len(indices)] = True
    index, mask = index.to(table.device), mask.to(table.device)
    return table[index].masked_fill(~mask.unsqueeze(-1), 0), mask


def _scored_vectors(output: GLiClassOutput, slot: int, labels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Row `slot`'s text vector (token-level text: the vectors of its text tokens) and its first
    `labels` label vectors, from a joint forward pass."""
    text = output.text_embeddings[slot]
    if output.text_mask is not None:
        text = text[output.text_mask[slot].bool()]
    return text.float().cpu(), output.label_embeddings[slot, :labels].float().cpu()


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


def _checked_chunks(texts: Iterator[str], size: int, least: int = 1) -> Iterator[list[str]]:
    """Chunks of `size` texts, each text checked and named by its position in the whole stream.

    With `least` > 1, a last chunk shorter than that joins the one before (each chunk is read
    before the previous one is yielded): a re-centred chunk needs at least two texts."""
    counter = itertools.count()

    def read() -> list[str]:
        return [check_text(text, f"text {next(counter)}") for text in itertools.islice(texts, size)]

    if least <= 1:  # no look-ahead: each chunk is yielded as soon as it is read
        while chunk := read():
            yield chunk
        return
    chunk = read()
    while chunk:
        following = read()
        if len(following) < least:  # the last chunk, or too short to stand alone: join this one
            chunk, following = chunk + following, []
        yield chunk
        chunk = following


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
    tokenizer: PreTrainedTokenizerBase | str | Path | None = None,
    device: int | str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    **kwargs: Any,
) -> ZeroShotMultilabelPipeline:
    """Build the `zero-shot-multilabel` pipeline from a path, a hub id or a model object.

    Same as `transformers.pipeline("zero-shot-multilabel", ...)` once `gliclass` is imported.
    Without `model`, the default model shipped inside the package is used (offline; see
    `gliclass/default_model/README.md`). `device` follows transformers (None: CUDA when available,
    else CPU). `dtype`: None loads float32; `"auto"` and torch dtypes as in the pipeline class.
    Loading options (`revision`, `cache_dir`, `local_files_only`, `token`, `subfolder`, `device_map`,
    `model_kwargs={...}`) go to `GLiClassModel.from_pretrained`. Other keyword arguments are the
    pipeline's options and the defaults of every call.
    """
    if task != TASK:
        raise ValueError(f"gliclass.pipeline only provides the {TASK!r} task, got {task!r}.")
    if kwargs.pop("trust_remote_code", None):
        raise ValueError("trust_remote_code is not supported: GLiClass checkpoints run this library's code only.")
    loading = dict(kwargs.pop("model_kwargs", None) or {})
    loading.update({name: kwargs.pop(name) for name in (*HUB_OPTIONS, "device_map") if name in kwargs})
    if "torch_dtype" in kwargs:  # transformers' older name for dtype
        torch_dtype = kwargs.pop("torch_dtype")
        if dtype is not None and torch_dtype is not None and torch_dtype != dtype:
            raise ValueError(f"dtype={dtype!r} and torch_dtype={torch_dtype!r} disagree; give one.")
        dtype = dtype if dtype is not None else torch_dtype
    device = check_device(device)
    if model is None:
        if not (DEFAULT_MODEL_DIR / "config.json").is_file():
            raise OSError(
                f"no model given and the default model is missing from this installation ({DEFAULT_MODEL_DIR}); "
                "pass model= (a GLiClass folder, hub id or GLiClassModel)."
            )
        model = DEFAULT_MODEL_DIR
    if isinstance(model, (str, Path)):
        named = sorted({"dtype", "torch_dtype"} & loading.keys())  # model_kwargs may name the dtype, by either name
        if named and dtype is not None:
            raise ValueError(f"dtype={dtype!r} and model_kwargs' {named[0]} both give the dtype; give one.")
        if not named:
            loading["dtype"] = dtype or torch.float32
        model = GLiClassModel.from_pretrained(model, **loading)
    elif not isinstance(model, GLiClassModel):
        raise TypeError(f"model must be a path, a hub id or a GLiClassModel, got {type(model).__name__}.")
    elif loading:
        raise TypeError(f"{', '.join(sorted(loading))} apply to loading a model by name; this model is loaded.")
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
