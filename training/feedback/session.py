"""An interactive feedback session: show a text's predicted labels, record a person's verdicts.

Every answer is appended to the output file and fsync'ed at once, so a crash or Ctrl-C loses
nothing; texts already in the file are not shown again, but for a text whose answers were cut
off, the labels not yet answered are.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from gliclass.prompt import check_labels

from .data import FeedbackRecord, append_feedback, end_at_line_boundary, feedback_progress

Predict = Callable[[str], list[tuple[str, float]]]
Ask = Callable[[str], str]


def terminal_safe(text: str) -> str:
    """`text` with its control characters but line breaks and tabs written as escapes (`\\x1b`), so
    that a text cannot hide itself, move the cursor or rewrite what the terminal shows."""
    return "".join(
        char.encode("unicode_escape").decode("ascii")
        if unicodedata.category(char) == "Cc" and char not in "\n\t"
        else char
        for char in text
    )


class FeedbackSession:
    """Ask a person about the predicted labels of each text, appending every answer to `output`.

    `predict(text)` gives the `(label, score)` pairs to show, best first; `ask_key(prompt)` reads
    one command key and `ask_line(prompt)` one line (injectable, so a script can drive a session).
    """

    def __init__(
        self,
        output: Path,
        labels: Sequence[str],
        predict: Predict,
        ask_key: Ask,
        ask_line: Ask,
        show: Callable[[str], None] = print,
    ) -> None:
        self.output = Path(output)
        self.labels = check_labels(list(labels))
        self.predict = predict
        self.ask_key = ask_key
        self.ask_line = ask_line
        self.show = show
        self.judged: dict[str, set[str]] = {}  # labels already answered of the texts cut off (see `pending`)

    def pending(self, texts: Sequence[str]) -> list[str]:
        """The texts not finished in the output file (`feedback_progress`), each once: those not in
        it, and those whose answers were cut off (their labels not yet answered are asked)."""
        end_at_line_boundary(self.output)
        finished, self.judged = feedback_progress(self.output)
        return [text for text in dict.fromkeys(texts) if text not in finished]

    def run(self, texts: Sequence[str]) -> int:
        """Go through the pending texts (a repeated text is asked once); return how many answers were written."""
        texts = list(dict.fromkeys(texts))
        todo = self.pending(texts)
        if len(todo) < len(texts):
            self.show(f"resuming: {len(texts) - len(todo)} of {len(texts)} texts are already in {self.output}.")
        answers = 0
        with self.output.open("a", encoding="utf-8") as handle:
            for number, text in enumerate(todo, len(texts) - len(todo) + 1):
                self.show(f"\n[{number}/{len(texts)}] {terminal_safe(text)}")
                written, quit_now = self._one_text(handle, text)
                answers += written
                if quit_now:
                    break
        return answers

    def _one_text(self, handle: TextIO, text: str) -> tuple[int, bool]:
        """Ask about one text; return (answers written, quit requested). A finished text ends with
        a record without verdicts (counted as an answer when it is the only one: a skipped text)."""
        written = 0

        def save(accepted: list[str], rejected: list[str]) -> None:
            nonlocal written
            append_feedback(handle, FeedbackRecord(text, self.labels, accepted, rejected))
            written += 1

        def finish() -> tuple[int, bool]:
            append_feedback(handle, FeedbackRecord(text, self.labels, [], []))
            return max(written, 1), False

        judged = self.judged.get(text, set())
        shown = [(label, score) for label, score in self.predict(text) if label not in judged]
        for label, score in shown:
            key = self._key(f"  {label} ({score:.2f})  [a]ccept [r]eject [u]nsure [s]kip text [q]uit: ", "arusq")
            if key == "a":
                save([label], [])
            elif key == "r":
                save([], [label])
            elif key == "s":
                return finish()
            elif key == "q":
                return written, True
        others = [label for label in self.labels if label not in {name for name, _ in shown} | judged]
        while others:
            key = self._key("  [m] add a missed label, [n]ext text, [q]uit: ", "mnq")
            if key == "m":
                self.show("  " + "  ".join(f"{index}. {label}" for index, label in enumerate(others, 1)))
                label = self._missed_label(others)
                if label is not None:
                    save([label], [])
                    others.remove(label)
                continue
            if key == "q":
                return written, True
            return finish()
        return finish()

    def _key(self, prompt: str, allowed: str) -> str:
        while True:
            try:
                answer = self.ask_key(prompt).strip().lower()
            except EOFError:
                return "q"
            if answer == "" and "n" in allowed:
                return "n"
            if len(answer) == 1 and answer in allowed:
                return answer
            self.show(f"  please press one of: {', '.join(allowed)}")

    def _missed_label(self, others: list[str]) -> str | None:
        try:
            answer = self.ask_line("  label (number or name, empty to cancel): ").strip()
        except EOFError:
            return None
        if answer.isdigit() and 1 <= int(answer) <= len(others):
            return others[int(answer) - 1]
        if answer in others:
            return answer
        if answer:
            self.show(f"  {answer!r} is not one of the labels listed.")
        return None
