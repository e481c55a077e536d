"""Turning (text, candidate labels, prompt, examples) into encoder rows.

The input string is the reference format, so token ids match the reference exactly when
nothing has to be cut:

    prompt_first:  <<LABEL>>l1<<LABEL>>l2<<SEP>>{prompt}{text}{examples}
    text first:    {text}<<LABEL>>l1<<LABEL>>l2<<SEP>>{prompt}{examples}
    examples:      <<EXAMPLE>>{text} \\nLabels:\\n {l1, l2}...<<SEP>>

`<<LABEL>>` and `<<SEP>>` must be tokens of the tokenizer. `<<EXAMPLE>>` need not be: checkpoints
trained without it get the same string, whose marker is then split as plain text (as the
reference package does).

Nothing the user gave is dropped silently: when a row is too long the text is cut (or split
into overlapping windows), never the labels; when the labels alone leave too little room they
are split into groups scored in separate rows.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from transformers import PreTrainedTokenizerBase

LABEL_TOKEN = "<<LABEL>>"
SEP_TOKEN = "<<SEP>>"
EXAMPLE_TOKEN = "<<EXAMPLE>>"
SPECIAL_TOKENS = (LABEL_TOKEN, SEP_TOKEN, EXAMPLE_TOKEN)
REQUIRED_TOKENS = (LABEL_TOKEN, SEP_TOKEN)  # the tokens a uni-encoder's tokenizer must have
# Unicode categories that render as nothing on their own: controls, format characters (zero-width
# space, joiners, BOM), separators, surrogates, combining and enclosing marks (no base character),
# and letters/symbols drawn blank (Hangul fillers, the blank Braille pattern).
INVISIBLE_CATEGORIES = ("Cc", "Cf", "Cs", "Zs", "Zl", "Zp", "Mn", "Me")
BLANK_CHARACTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u180e")
SHOWN_LABEL_CHARACTERS = 80  # a label named in an error is cut to this many characters
MAX_CACHED_LABEL_LENGTHS = 200_000  # label lengths kept per encoder; past that the cache starts again
MAX_CACHED_OVERHEADS = 1_000  # lengths of (prompt, examples) kept per encoder (examples can be long)


@dataclass(frozen=True)
class EncodedRow:
    """One encoder input: `input_ids` scoring `labels[label_start:label_end]` of text `text_index`.

    `cut_tokens` counts the text tokens that did not fit and were dropped (0 with windows).
    """

    input_ids: list[int]
    text_index: int
    label_start: int
    label_end: int
    window: int
    cut_tokens: int = 0


def format_examples(examples: Sequence[dict[str, Any]] | None) -> str:
    """Few-shot examples as `<<EXAMPLE>>text \\nLabels:\\n a, b ... <<SEP>>` (empty when none)."""
    if not examples:
        return ""
    parts = [f"{EXAMPLE_TOKEN}{text} \nLabels:\n {', '.join(labels)}" for text, labels in check_examples(examples)]
    return "".join(parts) + SEP_TOKEN


def label_with_description(label: str, descriptions: dict[str, str]) -> str:
    """The label as shown in the input: `name` or `name: description`."""
    description = descriptions.get(label)
    return f"{label}: {description}" if description else label


def check_labels(labels: Any) -> list[str]:
    """Validate candidate labels (a list of strings, or one comma-separated string)."""
    if isinstance(labels, str):
        labels = [part.strip() for part in labels.split(",")]
    if not isinstance(labels, (list, tuple)):
        raise TypeError(
            f"candidate_labels must be a list of strings or a comma-separated string, got {type(labels).__name__}."
        )
    if not labels:
        raise ValueError("candidate_labels is empty; give at least one label.")
    seen: dict[str, str] = {}
    for label in labels:
        if not isinstance(label, str):
            raise TypeError(f"every candidate label must be a string, got {label!r} ({type(label).__name__}).")
        if not has_visible_characters(label):
            raise ValueError(f"candidate_labels contains an empty label ({label!r}).")
        for token in SPECIAL_TOKENS:
            if token in label:
                raise ValueError(f"candidate label {shown(label)} contains the reserved token {token}.")
        check_encodable(label, f"candidate label {shown(label)}")
        if label.strip() in seen:
            first = seen[label.strip()]
            same = "is given twice" if first == label else f"and {first!r} differ only in surrounding spaces"
            raise ValueError(f"candidate label {shown(label)} {same}.")
        seen[label.strip()] = label
    return list(labels)


class LabelTooLongError(ValueError):
    """A candidate label that needs more tokens than the model's input leaves it; `label` is that label."""

    def __init__(self, message: str, label: str) -> None:
        super().__init__(message, label)  # both in `args`: it pickles back from a worker process
        self.label = label

    def __str__(self) -> str:
        return self.args[0]


def shown(label: str) -> str:
    """`repr(label)`, cut for error messages."""
    if len(label) <= SHOWN_LABEL_CHARACTERS:
        return repr(label)
    return repr(label[:SHOWN_LABEL_CHARACTERS]) + f"... ({len(label)} characters)"


def check_encodable(text: str, what: str) -> None:
    """Raise `ValueError` for lone surrogates (`\\ud800`): valid JSON, but not text a tokenizer takes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(
            f"{what} holds a lone surrogate {text[error.start]!r} at character {error.start}; not valid Unicode text."
        ) from None


def check_text(text: Any, what: str = "text") -> str:
    """Validate one input text."""
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a string, got {type(text).__name__}.")
    if not has_visible_characters(text):
        raise ValueError(f"{what} is empty (nothing but whitespace, zero-width or control characters).")
    check_encodable(text, what)
    for token in SPECIAL_TOKENS:
        if token in text:
            raise ValueError(f"{what} contains the reserved token {token}.")
    return text


def has_visible_characters(text: str) -> bool:
    """False when `text` holds only whitespace, zero-width (format) and control characters."""
    return any(
        not char.isspace() and char not in BLANK_CHARACTERS and unicodedata.category(char) not in INVISIBLE_CATEGORIES
        for char in text
    )


def check_examples(examples: Sequence[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """Validate few-shot examples `[{"text", "labels": [...]}]` (`true_labels` as in the reference's
    data); returns `(text, labels)` pairs."""
    if not isinstance(examples, (list, tuple)):
        raise TypeError("examples must be a list of {'text': ..., 'labels': [...]} dicts.")
    checked = []
    for number, example in enumerate(examples):
        if isinstance(example, (list, tuple)):
            raise TypeError(
                f"example {number} is a list: examples is one list of {{'text': ..., 'labels': [...]}} dicts for "
                "all texts (examples per text: gliclass.ZeroShotClassificationPipeline)."
            )
        if not isinstance(example, Mapping) or "text" not in example:
            raise TypeError(f"example {number} must be a dict with 'text' and 'labels'.")
        if "labels" not in example and "true_labels" not in example:  # e.g. a datasets column named `label`
            raise TypeError(f"example {number} has no 'labels' (its keys: {', '.join(map(str, example))}).")
        labels = example.get("labels", example.get("true_labels"))
        if isinstance(labels, np.ndarray):  # a list column read by pandas (e.g. from Parquet)
            labels = labels.tolist()
        if isinstance(labels, str) and labels:  # one label name
            labels = [labels]
        if isinstance(labels, str) or not isinstance(labels, (list, tuple)):
            raise TypeError(f"example {number}: 'labels' must be a list of strings.")
        checked.append((check_text(example["text"], f"example {number} text"), check_labels(labels) if labels else []))
    return checked


def is_table(value: Any) -> bool:
    """Whether `value` is a table such as a pandas DataFrame (iterating it gives its column names)."""
    return hasattr(value, "columns") and hasattr(value, "to_dict")


def labelled_examples(examples: Any) -> list[tuple[str, list[str]]]:
    """Labelled examples as `calibrate` and `finetune` take them: a list, any iterable, a pandas
    DataFrame or a `datasets.Dataset` of `{"text", "labels": [...]}` rows; checked `(text, labels)` pairs."""
    if is_table(examples):  # its rows
        examples = examples.to_dict("records")
    if isinstance(examples, (str, bytes, Mapping)) or not isinstance(examples, Iterable):
        kind = type(examples).__name__
        raise TypeError(f"examples must be a list of {{'text': ..., 'labels': [...]}} dicts, got {kind}.")
    examples = list(examples)
    if not examples:
        raise ValueError("no examples given: pass a list of {'text': ..., 'labels': [...]} dicts.")
    return check_examples(examples)


class PromptEncoder:
    """Builds encoder rows for a tokenizer and a label position, within `max_length` tokens.

    `min_text_tokens`: labels are split into groups when they would leave the text fewer tokens
    than this. `window_overlap`: with `windows=True`, long texts are cut into windows of the room
    left, overlapping by this many tokens, instead of being truncated.
    """

    required_tokens: tuple[str, ...] = REQUIRED_TOKENS  # tokens the tokenizer must have

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        prompt_first: bool,
        max_length: int,
        min_text_tokens: int = 32,
        window_overlap: int = 64,
    ) -> None:
        if not getattr(tokenizer, "is_fast", False):
            raise TypeError("GLiClass needs a fast (Rust) tokenizer for character offsets.")
        missing = [token for token in self.required_tokens if token not in tokenizer.get_vocab()]
        if missing:
            raise ValueError(f"the tokenizer lacks the GLiClass tokens {missing}; was it saved with the model?")
        self.tokenizer = tokenizer
        self.prompt_first = prompt_first
        self.max_length = max_length
        self.min_text_tokens = min_text_tokens
        self.window_overlap = window_overlap
        self._label_lengths: dict[str, int] = {}
        self._overheads: dict[tuple[str, str], int] = {}  # tokens of a row without labels and text

    def build_string(self, text: str, labels: Sequence[str], prompt: str = "", examples: str = "") -> tuple[str, int]:
        """The input string and the character offset where `text` starts in it."""
        section = "".join(f"{LABEL_TOKEN}{label}" for label in labels) + SEP_TOKEN + prompt
        if self.prompt_first:
            return section + text + examples, len(section)
        return text + section + examples, 0

    def encode(
        self,
        texts: Sequence[str],
        labels: Sequence[Sequence[str]],
        prompts: Sequence[str],
        examples: Sequence[str],
        windows: bool = False,
    ) -> list[EncodedRow]:
        """Rows for every text (with its own labels, prompt and formatted examples)."""
        jobs: list[tuple[int, int, int]] = []
        strings: list[str] = []
        spans: list[tuple[int, int]] = []
        for index, (text, text_labels, prompt, example) in enumerate(zip(texts, labels, prompts, examples)):
            for start, end in self.label_groups(text_labels, prompt, example, text, windows):
                string, offset = self.build_string(text, text_labels[start:end], prompt, example)
                jobs.append((index, start, end))
                strings.append(string)
                spans.append((offset, offset + len(text)))
        encodings = self.tokenizer(
            strings,
            add_special_tokens=True,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
            verbose=False,  # over-long rows are expected here and cut below
        )
        rows = []
        for job, span, ids, offsets, special in zip(
            jobs, spans, encodings["input_ids"], encodings["offset_mapping"], encodings["special_tokens_mask"]
        ):
            rows.extend(self._fit(job, span, ids, offsets, special, windows))
        return rows

    def label_groups(
        self, labels: Sequence[str], prompt: str, examples: str, text: str = "", windows: bool = False
    ) -> list[tuple[int, int]]:
        """Split `labels` into consecutive groups that each leave room for the text.

        The text keeps `min_text_tokens` (a quarter of `max_length` when that is smaller), or its own
        length when `text` is shorter: labels that fit beside the whole text are one group, as in the
        reference's single input. With `windows` a long text keeps half of the room (every group is
        scored on every window, so short windows beside many groups would multiply the rows).
        """
        overhead = _kept(
            self._overheads,
            (prompt, examples),
            MAX_CACHED_OVERHEADS,
            lambda: self._length(self.build_string("", [], prompt, examples)[0], special=True),
        )
        reserve = min(self.min_text_tokens, self.max_length // 4)
        if windows:  # half the room left by the prompt and examples, or what the longest label leaves
            longest = max(map(self._label_length, labels), default=1)
            reserve = max(reserve, min((self.max_length - overhead) // 2, self.max_length - overhead - longest))
        if text and overhead + sum(map(self._label_length, labels)) + reserve > self.max_length:
            reserve = min(reserve, self._length(text, special=False))  # a short text leaves its room to labels
        budget = self.max_length - overhead - reserve
        if budget < 1:
            raise ValueError(
                f"the prompt and examples take {overhead} of the max_length={self.max_length} tokens; "
                "too little is left for the labels and the text."
            )
        groups: list[tuple[int, int]] = []
        start, used = 0, 0
        for index, label in enumerate(labels):
            cost = self._label_length(label)
            if cost > budget:
                raise LabelTooLongError(
                    f"label {shown(label)} needs {cost} tokens; with the prompt and examples only {budget} fit "
                    f"(max_length={self.max_length}, min_text_tokens={self.min_text_tokens}).",
                    label,
                )
            if used + cost > budget:
                groups.append((start, index))
                start, used = index, 0
            used += cost
        groups.append((start, len(labels)))
        return groups

    def _label_length(self, label: str) -> int:
        return _kept(
            self._label_lengths,
            label,
            MAX_CACHED_LABEL_LENGTHS,
            lambda: self._length(LABEL_TOKEN + label, special=False),
        )

    def _length(self, string: str, special: bool) -> int:
        return len(self.tokenizer(string, add_special_tokens=special, verbose=False)["input_ids"])

    def _fit(
        self,
        job: tuple[int, int, int],
        span: tuple[int, int],
        ids: list[int],
        offsets: list[tuple[int, int]],
        special: list[int],
        windows: bool,
    ) -> list[EncodedRow]:
        index, start, end = job
        if len(ids) <= self.max_length:
            return [EncodedRow(ids, index, start, end, 0)]
        text_positions = [
            position
            for position, ((first, _), is_special) in enumerate(zip(offsets, special))
            if not is_special and span[0] <= first < span[1]
        ]
        if not text_positions:
            raise ValueError(
                f"text {index}: the labels, prompt and examples alone exceed max_length={self.max_length}."
            )
        first, last = text_positions[0], text_positions[-1] + 1
        prefix, text_ids, suffix = ids[:first], ids[first:last], ids[last:]
        room = self.max_length - len(prefix) - len(suffix)
        if room < 1:
            raise ValueError(
                f"text {index}: the labels, prompt and examples alone exceed max_length={self.max_length}."
            )
        if not windows:
            return [EncodedRow(prefix + text_ids[:room] + suffix, index, start, end, 0, len(text_ids) - room)]
        stride = max(1, room - min(self.window_overlap, room // 2))
        starts = list(range(0, max(1, len(text_ids) - room + stride), stride))
        return [
            EncodedRow(prefix + text_ids[window_start : window_start + room] + suffix, index, start, end, number)
            for number, window_start in enumerate(starts)
        ]


def _kept(cache: dict[Hashable, int], key: Hashable, limit: int, compute: Callable[[], int]) -> int:
    """`cache[key]`, computed and kept when missing; a cache of `limit` entries starts again (a
    long-running service with ever new labels or prompts). Safe for threads sharing `cache`."""
    value = cache.get(key)
    if value is None:
        if len(cache) >= limit:
            cache.clear()
        value = cache[key] = compute()
    return value
