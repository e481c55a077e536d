"""The reference package's pipeline call form, for code written against `gliclass` on PyPI.

    from gliclass import GLiClassModel, ZeroShotClassificationPipeline
    pipeline = ZeroShotClassificationPipeline(model, tokenizer, classification_type="multi-label")
    results = pipeline(text, labels, threshold=0.5)[0]   # [{"label": ..., "score": ...}, ...]

It runs on `ZeroShotMultilabelPipeline` (same scores) and answers as the reference does: one list
per text of `{"label", "score"}`, every label scoring at least its text's threshold in label
order (`"multi-label"`, sigmoid scores) or the single best label (`"single-label"`, a softmax over
the text's labels). Hierarchical labels `{group: [labels]}` are named `group.label`
(`label_separator`); `return_hierarchical=True` gives each text's scores in that shape instead.

Scores equal the reference's for a text scored alone. With `avg`, `max` or `last` pooling (and
both bi-encoder families) the reference's scores of a text also depend on the padding of the
other texts in its batch; here they never do. Inputs the reference would cut at the end (the
labels of a text-first model, or the examples) keep their labels and examples here; the text is cut.

`ZeroShotClassificationWithChunkingPipeline` is the reference's pipeline of the same name: texts in
overlapping character chunks, labels in groups per encoder input, scores the maximum over chunks.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase

from .model import GLiClassModel
from .options import check_batch_size, flattened_hierarchy, hierarchy_name, is_per_text, labels_per_text
from .pipeline import ZeroShotMultilabelPipeline, backbone_max_length, model_tokenizer
from .prompt import check_labels, check_text

CLASSIFICATION_TYPES = {
    "single": "single-label",
    "single-label": "single-label",
    "single_label": "single-label",
    "multi": "multi-label",
    "multi-label": "multi-label",
    "multi_label": "multi-label",
}


class ZeroShotClassificationPipeline:
    """`ZeroShotClassificationPipeline(model, tokenizer, ...)` as in the reference package.

    Args:
        model: a [`GLiClassModel`] (or a path / hub id to load one).
        tokenizer: the model's tokenizer, a path to load it from, or None (the model's own).
        max_classes: accepted for compatibility; as in the reference it changes nothing.
        max_length: longest encoder input (capped at what the backbone supports).
        classification_type: `"multi-label"` or `"single-label"` (the default of every call).
        device: `"cuda:0"` (falls back to the CPU without CUDA, as the reference does), `"cpu"`, ...
        progress_bar: show a progress bar over batches.
        label_separator: joins a group and its label in hierarchical labels.
    """

    def __init__(
        self,
        model: GLiClassModel | str | Path,
        tokenizer: PreTrainedTokenizerBase | str | Path | None = None,
        max_classes: int = 25,
        max_length: int = 1024,
        classification_type: str = "multi-label",
        device: str | torch.device = "cuda:0",
        progress_bar: bool = True,
        label_separator: str = ".",
    ) -> None:
        if not isinstance(model, GLiClassModel):
            model = GLiClassModel.from_pretrained(model)
        tokenizer = model_tokenizer(model, tokenizer)
        if isinstance(device, str) and device.startswith("cuda") and not torch.cuda.is_available():
            device = "cpu"
        self.classification_type = normalized_classification_type(classification_type)
        self.max_classes = max_classes
        self.progress_bar = progress_bar
        self.label_separator = label_separator
        length = min(max_length, backbone_max_length(model, tokenizer))
        self.pipe = ZeroShotMultilabelPipeline(model=model, tokenizer=tokenizer, device=device, max_length=length)

    def __call__(
        self,
        texts: str | Sequence[str],
        labels: Sequence[str] | dict[str, Any] | Sequence[Sequence[str] | dict[str, Any]],
        threshold: float | Sequence[float] = 0.5,
        batch_size: int = 8,
        classification_type: str | Sequence[str] | None = None,
        rac_examples: Sequence[Any] | None = None,
        examples: Sequence[dict[str, Any]] | Sequence[Sequence[dict[str, Any]] | None] | None = None,
        prompt: str | Sequence[str] | None = None,
        return_hierarchical: bool = False,
    ) -> list[list[dict[str, Any]]] | list[dict[str, Any]]:
        """Classify `texts` against `labels` (one set, or one per text); see the module docstring."""
        if rac_examples:
            raise TypeError("rac_examples (the reference's legacy retrieval format) is not supported; use examples=.")
        texts = text_list(texts)
        count = len(texts)
        per_text_labels = is_per_text("candidate_labels", labels)
        label_sets = self._label_sets(labels, per_text_labels, count)
        thresholds = per_text_thresholds(threshold, count)
        batch_size = check_batch_size(batch_size)
        types = per_text("classification_type", classification_type, count)
        types = [normalized_classification_type(kind) if kind else self.classification_type for kind in types]
        prompts = per_text("prompt", prompt, count)
        example_sets = per_text_examples(examples, count)
        results: list[Any] = [None] * count
        for start in tqdm(range(0, count, batch_size), disable=not self.progress_bar):
            groups: dict[tuple, list[int]] = {}  # texts of the batch scored together
            for index in range(start, min(start + batch_size, count)):
                key = (tuple(label_sets[index]), types[index], id(example_sets[index]))
                groups.setdefault(key, []).append(index)
            for (names, kind, _), indices in groups.items():
                scores = self.pipe.score_texts(
                    [texts[index] for index in indices],
                    list(names),
                    multi_label=kind == "multi-label",
                    prompt=[prompts[index] or "" for index in indices],
                    examples=example_sets[indices[0]],
                    batch_size=batch_size,
                )
                for index, row in zip(indices, scores.tolist()):
                    shape = (labels[index] if per_text_labels else labels) if return_hierarchical else None
                    results[index] = self._answer(names, row, kind, thresholds[index], shape)
        return results

    def get_embeddings(
        self,
        texts: str | Sequence[str],
        labels: Sequence[str] | dict[str, Any] | Sequence[Sequence[str] | dict[str, Any]],
        batch_size: int = 8,
        examples: Sequence[dict[str, Any]] | Sequence[Sequence[dict[str, Any]] | None] | None = None,
        prompt: str | Sequence[str] | None = None,
    ) -> list[dict[str, np.ndarray]]:
        """For each text, as the reference: `{"logits", "text_embedding", "class_embeddings"}` (NumPy
        arrays), the model's logits over its labels and the projected text and label vectors they
        were scored with (`ZeroShotMultilabelPipeline.get_embeddings`)."""
        texts = text_list(texts)
        count = len(texts)
        label_sets = self._label_sets(labels, is_per_text("candidate_labels", labels), count)
        batch_size = check_batch_size(batch_size)
        prompts = per_text("prompt", prompt, count)
        example_sets = per_text_examples(examples, count)
        groups: dict[int, list[int]] = {}  # texts sharing their examples
        for index, example_set in enumerate(example_sets):
            groups.setdefault(id(example_set), []).append(index)
        results: list[dict[str, np.ndarray]] = [{}] * count
        for indices in groups.values():
            found = self.pipe.get_embeddings(
                [texts[index] for index in indices],
                [label_sets[index] for index in indices],
                prompt=[prompts[index] or "" for index in indices],
                examples=example_sets[indices[0]],
                batch_size=batch_size,
            )
            for index, embeddings in zip(indices, found):
                results[index] = {
                    "logits": embeddings["logits"].numpy(),
                    "text_embedding": embeddings["text_embedding"].numpy(),
                    "class_embeddings": embeddings["label_embeddings"].numpy(),
                }
        return results

    def flatten_labels(self, labels: Sequence[str] | dict[str, Any]) -> list[str]:
        """Hierarchical labels `{group: [labels]}` as the names they are scored under: `group.label`.
        One string is comma-separated labels, as `gliclass.pipeline` takes it (the reference scores
        each of its characters as a label)."""
        if isinstance(labels, str):
            return labels_per_text(labels, None)[0][0]
        return check_labels(flattened_hierarchy(labels, self.label_separator))

    def _answer(self, names: Sequence[str], scores: list[float], kind: str, threshold: float, shape: Any) -> Any:
        """One text's answer: its predicted labels, or (`shape`: the labels as given) all its scores in that shape."""
        if shape is not None:  # a label string is comma-separated labels, as it was scored
            return self._shaped(list(names) if isinstance(shape, str) else shape, dict(zip(names, scores)))
        if kind == "single-label":
            best = max(range(len(scores)), key=scores.__getitem__)
            return [{"label": names[best], "score": scores[best]}]
        return [{"label": name, "score": score} for name, score in zip(names, scores) if score >= threshold]

    def _label_sets(self, labels: Any, per_text_labels: bool, count: int) -> list[list[str]]:
        """Each text's label names (hierarchies flattened to `group.label`)."""
        if per_text_labels:
            if len(labels) != count:
                raise ValueError(f"got {len(labels)} label lists for {count} texts.")
            return [self.flatten_labels(item) for item in labels]
        return [self.flatten_labels(labels)] * count

    def _shaped(self, shape: Any, scores: dict[str, float], prefix: str = "") -> dict[str, Any]:
        """`scores` by label in the shape of the labels given: `{group: {label: score}}`."""
        if isinstance(shape, dict):
            return {
                group: self._shaped(members, scores, hierarchy_name(prefix, group, self.label_separator))
                for group, members in shape.items()
            }
        members = [shape] if isinstance(shape, str) else shape
        return {label: scores[hierarchy_name(prefix, label, self.label_separator)] for label in members}


class ZeroShotClassificationWithChunkingPipeline(ZeroShotClassificationPipeline):
    """The reference's `ZeroShotClassificationWithChunkingPipeline(model, tokenizer, ...)`.

    A text longer than `text_chunk_size` characters is cut into chunks of that many characters, each
    starting `text_chunk_overlap` characters before the previous one ended. Every chunk is scored
    against the labels `labels_chunk_size` at a time (one encoder input per group: a joint model's
    score of a label depends on the labels it is read with). A chunk's scores are the sigmoid of its
    logits (`"multi-label"`) or a softmax over all the labels (`"single-label"`); a text's are the
    maximum over its chunks, for `"single-label"` divided by their sum when there were several.
    Answers: the labels scoring at least `threshold`, best first, or the best label;
    `return_hierarchical=True` gives every score in the shape of the labels. One label set serves all
    texts. Chunk sizes given to a call are kept for the next calls, as in the reference.

    Args (besides [`ZeroShotClassificationPipeline`]'s):
        text_chunk_size: longest text scored in one piece, in characters.
        text_chunk_overlap: characters each chunk repeats from the previous one (less than `text_chunk_size`).
        labels_chunk_size: labels per encoder input.
    """

    def __init__(
        self,
        model: GLiClassModel | str | Path,
        tokenizer: PreTrainedTokenizerBase | str | Path | None = None,
        max_classes: int = 25,
        max_length: int = 1024,
        classification_type: str = "multi-label",
        device: str | torch.device = "cuda:0",
        progress_bar: bool = True,
        text_chunk_size: int = 8192,
        text_chunk_overlap: int = 256,
        labels_chunk_size: int = 8,
        label_separator: str = ".",
    ) -> None:
        self.text_chunk_size, self.text_chunk_overlap, self.labels_chunk_size = checked_chunk_sizes(
            text_chunk_size, text_chunk_overlap, labels_chunk_size
        )
        super().__init__(
            model, tokenizer, max_classes, max_length, classification_type, device, progress_bar, label_separator
        )

    @property
    def model(self) -> GLiClassModel:
        """The model (an attribute of the reference's chunking pipeline, as are `tokenizer` and `device`)."""
        return self.pipe.model

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        return self.pipe.tokenizer

    @property
    def device(self) -> torch.device:
        return self.pipe.device

    def chunk_text(self, text: str, chunk_size: int | None = None, overlap: int | None = None) -> list[str]:
        """`text` in chunks of `chunk_size` characters, each starting `overlap` characters before the
        previous one ended (defaults: the pipeline's); a text that fits is one chunk."""
        size, overlap, _ = checked_chunk_sizes(
            self.text_chunk_size if chunk_size is None else chunk_size,
            self.text_chunk_overlap if overlap is None else overlap,
            self.labels_chunk_size,
        )
        return character_chunks(text, size, overlap)

    def __call__(  # type: ignore[override]  # the reference's signature for this pipeline
        self,
        texts: str | Sequence[str],
        labels: Sequence[str] | dict[str, Any],
        threshold: float | Sequence[float] = 0.5,
        batch_size: int = 8,
        labels_chunk_size: int | None = None,
        text_chunk_size: int | None = None,
        text_chunk_overlap: int | None = None,
        rac_examples: Sequence[Any] | None = None,
        examples: Sequence[dict[str, Any]] | Sequence[Sequence[dict[str, Any]] | None] | None = None,
        prompt: str | Sequence[str] | None = None,
        return_hierarchical: bool = False,
    ) -> list[list[dict[str, Any]]] | list[dict[str, Any]]:
        """Classify `texts` against one set of `labels`; see the class docstring."""
        self.text_chunk_size, self.text_chunk_overlap, self.labels_chunk_size = checked_chunk_sizes(
            self.text_chunk_size if text_chunk_size is None else text_chunk_size,
            self.text_chunk_overlap if text_chunk_overlap is None else text_chunk_overlap,
            self.labels_chunk_size if labels_chunk_size is None else labels_chunk_size,
        )
        if rac_examples:
            raise TypeError("rac_examples (the reference's legacy retrieval format) is not supported; use examples=.")
        if is_per_text("candidate_labels", labels):
            raise ValueError(
                "the chunking pipeline takes one label set for all texts; "
                "ZeroShotClassificationPipeline takes one per text."
            )
        texts = text_list(texts)
        count = len(texts)
        [names] = self._label_sets(labels, False, 1)
        thresholds = per_text_thresholds(threshold, count)
        batch_size = check_batch_size(batch_size)
        prompts = per_text("prompt", prompt, count)
        example_sets = per_text_examples(examples, count)
        pieces = [character_chunks(text, self.text_chunk_size, self.text_chunk_overlap) for text in texts]
        chunks = [(index, chunk) for index, text_chunks in enumerate(pieces) for chunk in text_chunks]
        logits = torch.empty(len(chunks), len(names))
        by_examples: dict[int, list[int]] = {}  # chunks scored together: those sharing their examples
        for position, (index, _) in enumerate(chunks):
            by_examples.setdefault(id(example_sets[index]), []).append(position)
        groups = range(0, len(names), self.labels_chunk_size) if chunks else range(0)
        for start in tqdm(groups, disable=not self.progress_bar):
            group = names[start : start + self.labels_chunk_size]
            for positions in by_examples.values():
                owners = [chunks[position][0] for position in positions]
                logits[positions, start : start + len(group)] = self.pipe.text_logits(
                    [chunks[position][1] for position in positions],
                    group,
                    prompt=[prompts[index] or "" for index in owners],
                    examples=example_sets[owners[0]],
                    batch_size=batch_size,
                )
        single = self.classification_type == "single-label"
        chunk_scores = torch.softmax(logits, dim=-1) if single else torch.sigmoid(logits)
        results = []
        for index, scores in enumerate(chunk_scores.split([len(text_chunks) for text_chunks in pieces])):
            text_scores = scores.max(0).values
            if single and len(scores) > 1:
                text_scores = text_scores / text_scores.sum()
            shape = labels if return_hierarchical else None
            answer = self._answer(names, text_scores.tolist(), self.classification_type, thresholds[index], shape)
            if shape is None:
                answer.sort(key=lambda prediction: prediction["score"], reverse=True)
            results.append(answer)
        return results


def character_chunks(text: str, size: int, overlap: int) -> list[str]:
    """`text` in chunks of `size` characters, each starting `overlap` (< `size`) characters before the
    previous one ended; a text that fits is one chunk."""
    chunks, start = [], 0
    while True:
        chunks.append(text[start : start + size])
        if start + size >= len(text):
            return chunks
        start += size - overlap


def checked_chunk_sizes(text_chunk_size: Any, text_chunk_overlap: Any, labels_chunk_size: Any) -> tuple[int, int, int]:
    """The chunking pipeline's sizes as integers: positive chunk sizes, an overlap from 0 to less than
    the text chunk size (else chunking would never end)."""
    size = check_batch_size(text_chunk_size, "text_chunk_size")
    overlap = text_chunk_overlap
    if isinstance(overlap, bool) or not isinstance(overlap, numbers.Integral) or not 0 <= overlap < size:
        raise ValueError(
            f"text_chunk_overlap must be an integer from 0 to less than text_chunk_size ({size}), got {overlap!r}."
        )
    return size, int(overlap), check_batch_size(labels_chunk_size, "labels_chunk_size")


def normalized_classification_type(kind: str) -> str:
    """'multi-label' or 'single-label' from the reference's spellings."""
    if not isinstance(kind, str) or kind.strip().lower() not in CLASSIFICATION_TYPES:
        raise ValueError(f"classification_type must be 'single-label' or 'multi-label', got {kind!r}.")
    return CLASSIFICATION_TYPES[kind.strip().lower()]


def text_list(texts: Any) -> list[str]:
    """One text or a sequence of texts (checked) as a list."""
    if isinstance(texts, str):
        texts = [texts]
    elif isinstance(texts, (bytes, bytearray, Mapping, AbstractSet)) or not isinstance(texts, Iterable):
        raise TypeError(f"texts must be a string or a list of strings, got {type(texts).__name__}.")
    return [check_text(text, f"text {index}") for index, text in enumerate(texts)]


def per_text(name: str, value: Any, count: int) -> list[Any]:
    """One value for every text, or a list with one per text."""
    if isinstance(value, (list, tuple)):
        if len(value) != count:
            raise ValueError(f"got {len(value)} values of {name} for {count} texts.")
        return list(value)
    return [value] * count


def per_text_thresholds(threshold: Any, count: int) -> list[float]:
    """One threshold for every text, or a list with one per text."""
    thresholds = per_text("threshold", threshold, count)
    if any(isinstance(value, bool) or not isinstance(value, numbers.Real) for value in thresholds):
        raise TypeError(f"threshold must be a number or one number per text, got {threshold!r}.")
    return thresholds


def per_text_examples(examples: Any, count: int) -> list[Any]:
    """Few-shot examples shared by all texts, or one list (or None) per text; None entries of a list
    are skipped, as the reference skips them."""
    if not examples:
        return [None] * count
    if all(item is None or isinstance(item, (list, tuple)) for item in examples):
        if len(examples) != count:
            raise ValueError(f"got {len(examples)} example lists for {count} texts.")
        return [given_examples(item) for item in examples]
    return [given_examples(examples)] * count


def given_examples(examples: Sequence[Any] | None) -> list[Any] | None:
    """The examples of a list that are not None (None when there are none)."""
    return [example for example in examples or () if example is not None] or None


BiEncoderZeroShotClassificationPipeline = ZeroShotClassificationPipeline  # the reference's name for bi-encoders
