"""The texts still to be answered, shared by every browser tab of a feedback page.

One lock guards the state and the output file: each answer is validated, appended and fsync'ed
(the terminal loop's format and writer) before it is acknowledged. Every text handed out is
tracked: a new tab gets a text no other tab holds while there is one, and an answer for a text that
is already answered is refused (`AlreadyAnswered`, HTTP 409) rather than merged, so the file never
holds two answers for one text. Texts already in the output file when the queue starts are done
(a restart resumes); a text the terminal loop left cut off is asked again for its other labels.
Each answer ends with the record that ends a text, as the terminal loop writes it.
"""

from __future__ import annotations

import itertools
import threading
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gliclass.prompt import check_labels

from .data import FeedbackRecord, append_feedback, end_at_line_boundary, feedback_progress, parse_feedback
from .ordering import asking_order
from .scoring import Score


class AlreadyAnswered(Exception):
    """An answer came for a text that already has one."""


class UnknownText(Exception):
    """An answer names a text id that is not in the pool."""


class QueueClosed(Exception):
    """The queue was closed (the server is stopping); nothing more is written."""


@dataclass
class Item:
    """One text to ask about: its id, every label's current score (best first), and whether another
    tab holds it too (only when every pending text is already held)."""

    id: int
    text: str
    scores: list[tuple[str, float]]
    held_elsewhere: bool

    def to_dict(self, top: int) -> dict[str, Any]:
        """The item as the page's JSON: the `top` labels to judge and the others to add from."""
        labels = [{"label": label, "score": round(score, 4)} for label, score in self.scores]
        return {
            "id": self.id,
            "text": self.text,
            "shown": labels[:top],
            "others": labels[top:],
            "held_elsewhere": self.held_elsewhere,
        }


class FeedbackQueue:
    """Hand out texts in asking order and record answers to `output` (appended, fsync'ed).

    `score(texts)` gives every label's score per text; the pool is scored once at start and, with
    `rescore_every=N`, again (what is still pending) after every N answers. `order`, `threshold`
    and `seed` are those of `asking_order`.
    """

    def __init__(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        output: Path,
        score: Score,
        order: str = "uncertain",
        threshold: float | None = None,
        seed: int = 0,
        rescore_every: int = 0,
    ) -> None:
        if rescore_every < 0:
            raise ValueError(f"rescore_every must be 0 (never) or a positive number of answers, got {rescore_every}.")
        self.texts = list(dict.fromkeys(texts))
        self.labels = check_labels(list(labels))
        self.output = Path(output)
        self.score = score
        self.order = order
        self.threshold = threshold
        self.seed = seed
        self.rescore_every = rescore_every
        end_at_line_boundary(self.output)
        done, self._judged = feedback_progress(self.output)  # texts cut off: their other labels
        self._answered = {index for index, text in enumerate(self.texts) if text in done}
        self._lock = threading.Lock()
        self._rescoring = threading.Lock()
        self._held: dict[int, int] = {}  # text id -> when it was handed out (a counter)
        self._tabs: dict[str, int] = {}  # tab id -> the text it holds
        self._clock = itertools.count()
        self._answers_since_scoring = 0
        self.answers = 0  # written by this queue
        self.rescores = 0
        self.rescore_error: str | None = None  # why the last re-scoring after an answer failed
        self._scores: dict[int, list[float]] = {}
        self._order: list[int] = []
        self._handle = self.output.open("a", encoding="utf-8")
        self._closed = False
        self.rescore()

    def progress(self) -> dict[str, int]:
        """How many of the texts are answered."""
        with self._lock:
            return self._progress()

    def _progress(self) -> dict[str, int]:
        return {"answered": len(self._answered), "total": len(self.texts)}

    def pending(self) -> list[int]:
        """The ids of the texts without an answer, in asking order."""
        with self._lock:
            return [index for index in self._order if index not in self._answered]

    def rescore(self) -> bool:
        """Score the pending texts with the current model and re-order them; False if another
        re-scoring is already running (this one is then not needed)."""
        if not self._rescoring.acquire(blocking=False):
            return False
        try:
            with self._lock:
                todo = [index for index in range(len(self.texts)) if index not in self._answered]
            scores = self.score([self.texts[index] for index in todo])
            if len(scores) != len(todo) or any(len(row) != len(self.labels) for row in scores):
                raise ValueError("the scorer must give one score per label for every text.")
            with self._lock:
                self._scores.update(zip(todo, scores))
                ordered = asking_order([self._scores[index] for index in todo], self.order, self.threshold, self.seed)
                self._order = [todo[position] for position in ordered]
                self._answers_since_scoring = 0
                self.rescores += 1
            return True
        finally:
            self._rescoring.release()

    def next_item(self, tab: str | None = None) -> Item | None:
        """The next text for a tab: the one it already holds if still pending, else the first pending
        text nobody holds, else (every pending text is held) the one held longest; None when done."""
        with self._lock:
            self._check_open()
            held = self._tabs.get(tab) if tab is not None else None
            elsewhere = False
            if held is None or held in self._answered:
                pending = [index for index in self._order if index not in self._answered]
                if not pending:
                    return None
                free = [index for index in pending if index not in self._held]
                elsewhere = not free
                held = free[0] if free else min(pending, key=lambda index: self._held[index])
                self._held[held] = next(self._clock)
                if tab is not None:
                    self._tabs[tab] = held
            judged = self._judged.get(self.texts[held], set())
            ranked = sorted(zip(self.labels, self._scores[held]), key=lambda pair: -pair[1])
            ranked = [(label, score) for label, score in ranked if label not in judged]
            return Item(held, self.texts[held], ranked, elsewhere)

    def answer(self, text_id: Any, accepted: Any, rejected: Any) -> dict[str, int]:
        """Record a person's verdicts on one text (empty lists: skipped, marked as seen); returns the
        progress. Raises UnknownText, AlreadyAnswered, or DataError for bad labels. A re-scoring due
        after it that fails leaves the answer saved and sets `rescore_error`."""
        if not isinstance(text_id, int) or isinstance(text_id, bool) or not 0 <= text_id < len(self.texts):
            raise UnknownText(f"no text has id {text_id!r}.")
        record = parse_feedback(
            {
                "text": self.texts[text_id],
                "candidate_labels": self.labels,
                "accepted": accepted,
                "rejected": rejected,
            },
            "answer",
        )
        with self._lock:
            self._check_open()
            if text_id in self._answered:
                raise AlreadyAnswered(f"text {text_id} is already answered (in another tab?).")
            append_feedback(self._handle, record)
            if record.accepted or record.rejected:  # the record that ends a text, as the terminal writes it
                append_feedback(self._handle, FeedbackRecord(record.text, record.candidate_labels, [], []))
            self._answered.add(text_id)
            self._held.pop(text_id, None)
            self.answers += 1
            self._answers_since_scoring += 1
            due = self.rescore_every > 0 and self._answers_since_scoring >= self.rescore_every
            progress = self._progress()
        if due and progress["answered"] < progress["total"]:
            try:
                self.rescore()
                self.rescore_error = None
            except Exception as error:  # the answer is saved; the texts keep their last order
                traceback.print_exc()
                self.rescore_error = f"{type(error).__name__}: {error}"
        return progress

    def close(self) -> None:
        """Stop accepting answers; waits for an answer being written, then closes the file."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._handle.close()

    def _check_open(self) -> None:
        if self._closed:
            raise QueueClosed("the feedback page is stopping.")
