"""The feedback format: what a person said about a model's labels, one JSONL record per line.

    {"text": "...", "candidate_labels": ["a", "b", "c"], "accepted": ["a"], "rejected": ["b"]}

`accepted` are labels a person confirmed (including missed ones they added), `rejected` labels
they turned down; both are subsets of `candidate_labels`, and every other candidate is unjudged.
A file is a log: records of the same text and candidates are merged (a label both accepted and
rejected is an error, located by `file:line`).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from gliclass.data import DataError, checked_text
from gliclass.jsonl import read_jsonl
from gliclass.prompt import check_labels

try:
    import fcntl  # advisory file locks (POSIX)
except ImportError:  # Windows
    fcntl = None

RECORD_START = b'{"text": '  # how every record written by `append_feedback` begins


@dataclass
class FeedbackRecord:
    """What a person said about some candidate labels of one text."""

    text: str
    candidate_labels: list[str]
    accepted: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        """The record as one JSON line (without the newline)."""
        labels = {"candidate_labels": self.candidate_labels, "accepted": self.accepted, "rejected": self.rejected}
        return json.dumps({"text": self.text, **labels})


def parse_feedback(record: Any, where: str) -> FeedbackRecord:
    """Validate one decoded JSON record; errors name `where` (`file:line`)."""
    if not isinstance(record, dict):
        raise DataError(f"{where}: a feedback record must be a JSON object.")
    if "text" not in record:
        raise DataError(f"{where}: the record has no text.")
    text = checked_text(record["text"], where)
    try:
        candidates = check_labels(record.get("candidate_labels"))
    except (TypeError, ValueError) as error:
        raise DataError(f"{where}: 'candidate_labels': {error}") from error
    lists = {}
    for key in ("accepted", "rejected"):
        value = record.get(key, [])
        if not isinstance(value, list) or not all(isinstance(label, str) for label in value):
            raise DataError(f"{where}: '{key}' must be a list of label names.")
        unknown = [label for label in value if label not in candidates]
        if unknown:
            raise DataError(f"{where}: {key} labels {unknown} are not among the candidate labels.")
        lists[key] = list(dict.fromkeys(value))
    both = set(lists["accepted"]) & set(lists["rejected"])
    if both:
        raise DataError(f"{where}: labels {sorted(both)} are both accepted and rejected.")
    return FeedbackRecord(text, candidates, lists["accepted"], lists["rejected"])


def iter_feedback_lines(path: Path) -> Iterator[tuple[str, FeedbackRecord]]:
    """`(file:line, record)` for every non-empty line of a feedback file, unmerged."""
    for where, decoded in read_jsonl(path, error=DataError):
        yield where, parse_feedback(decoded, where)


def read_feedback(path: str | Path) -> list[FeedbackRecord]:
    """The records of a feedback file, merged per (text, candidate labels), in first-seen order."""
    merged: dict[tuple[str, tuple[str, ...]], tuple[FeedbackRecord, dict[str, tuple[str, str]]]] = {}
    for where, record in iter_feedback_lines(Path(path)):
        key = (record.text, tuple(sorted(record.candidate_labels)))  # the order labels were shown in is not theirs
        if key not in merged:
            merged[key] = (FeedbackRecord(record.text, record.candidate_labels), {})
        total, verdicts = merged[key]
        for verdict, labels in (("accepted", record.accepted), ("rejected", record.rejected)):
            for label in labels:
                earlier = verdicts.get(label)
                if earlier is not None and earlier[0] != verdict:
                    raise DataError(f"{where}: label {label!r} is {verdict} here but was {earlier[0]} at {earlier[1]}.")
                if earlier is None:
                    verdicts[label] = (verdict, where)
                    getattr(total, verdict).append(label)
    return [total for total, _ in merged.values()]


def feedback_progress(path: Path) -> tuple[set[str], dict[str, set[str]]]:
    """The texts a feedback file holds as finished, and the labels already judged of those cut off.

    Both front ends end a finished text with a record without verdicts (the terminal after its one-label
    records; the web page after its one record of all verdicts; a skipped text is that record alone).
    A text with verdicts but no such record was cut off (Ctrl-C or quit inside it, or a page stopped
    between the two records), wherever it lies in the file: a later session may have answered other
    texts first (another `--order`, another tab)."""
    records = [record for _, record in iter_feedback_lines(path)] if path.exists() else []
    judged: dict[str, set[str]] = {}
    ended = set()
    for record in records:
        if record.accepted or record.rejected:
            judged.setdefault(record.text, set()).update(record.accepted + record.rejected)
        else:
            ended.add(record.text)
    cut = {text: labels for text, labels in judged.items() if text not in ended}
    return {record.text for record in records} - cut.keys(), cut


@contextmanager
def sole_writer(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the answers file `path` while a session writes it: a second session
    on the same file, which would interleave and repeat texts, is refused. A file created here and
    still empty at the end (nothing was answered) is removed. Advisory locks (`flock`); where the
    platform has none (Windows), no check is made."""
    created = not path.exists()
    try:
        with path.open("a", encoding="utf-8") as handle:
            if fcntl is not None and not _locked(handle):
                raise ValueError(
                    f"--out {path} is being written by another feedback session; finish that one first, "
                    "or give this one its own file."
                )
            yield
    finally:
        if created and path.is_file() and path.stat().st_size == 0:
            path.unlink()


def _locked(handle: TextIO) -> bool:
    """Take the exclusive lock on an open file without waiting; False when another process holds it."""
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def end_at_line_boundary(path: Path) -> None:
    """Before answers are appended to `path`: a last record without its newline (an edited file)
    gets one; a half-written last record (a crash while writing) is moved to `PATH.partial`, with a
    warning, so the file reads again and nothing is thrown away. Any other last line is left for the
    reader to refuse by `file:line` (`--out` named some other file: it is not changed)."""
    if not path.is_file():
        return
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return
    start = data.rfind(b"\n") + 1
    try:
        json.loads(data[start:])
    except ValueError:
        if not is_record_start(data[start:]):  # not an answer cut off: some other file, refused by its reader
            return
        partial = path.with_name(path.name + ".partial")
        with partial.open("ab") as handle:
            handle.write(data[start:] + b"\n")
        with path.open("r+b") as handle:
            handle.truncate(start)
        line = data.count(b"\n") + 1
        warnings.warn(f"{path}:{line}: a half-written last line (a crash while writing?) was moved to {partial}.")
        return
    with path.open("ab") as handle:
        handle.write(b"\n")


def is_record_start(line: bytes) -> bool:
    """Whether `line` is the start of a record as `append_feedback` writes it (`{"text": ...`)."""
    return line.startswith(RECORD_START) or RECORD_START.startswith(line)


def append_feedback(handle: TextIO, record: FeedbackRecord) -> None:
    """Append one record and force it to disk (flush + fsync)."""
    handle.write(record.to_json() + "\n")
    handle.flush()
    os.fsync(handle.fileno())
