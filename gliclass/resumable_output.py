"""A JSONL output file that a killed run resumes: lines are appended in chunks and fsync'ed, and a
new run keeps the complete lines already written (checked against the input) and goes on from there."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class ResumableOutput:
    """Output lines for `records`, one per record, in order; `done` of them are already written.

    A partial last line (the run was killed while writing) is cut off. Lines already there must
    belong to the first records (same `text_field`), else `ValueError`: the file is another run's.
    """

    def __init__(self, path: str | Path, records: Sequence[dict[str, Any]], text_field: str = "text") -> None:
        self.path = Path(path)
        self.text_field = text_field
        if self.path.is_dir():
            raise OSError(f"--output {self.path} is a folder.")
        self.done = self._complete_lines(records) if self.path.exists() else 0
        self._handle = self.path.open("a", encoding="utf-8")

    def write(self, lines: Sequence[str]) -> None:
        """Append `lines` and make them durable before returning."""
        self._handle.write("".join(line + "\n" for line in lines))
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self.done += len(lines)

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> ResumableOutput:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _complete_lines(self, records: Sequence[dict[str, Any]]) -> int:
        data = self.path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]
        if len(complete) < len(data):  # killed mid-line: drop the partial line
            with self.path.open("r+b") as handle:
                handle.truncate(len(complete))
        lines = complete.decode("utf-8", errors="replace").splitlines()
        if len(lines) > len(records):
            raise ValueError(f"--output {self.path} has {len(lines)} lines, more than the input's {len(records)}.")
        for number, (line, record) in enumerate(zip(lines, records), 1):
            try:
                text = json.loads(line).get(self.text_field)
            except (json.JSONDecodeError, AttributeError):
                text = None
            if text != record[self.text_field]:
                raise ValueError(
                    f"--output {self.path}:{number} is not the output of input line {number}; "
                    "it belongs to another run (remove it or choose another file)."
                )
        return len(lines)
