"""A JSONL output file that a killed run resumes: lines are appended in chunks and fsync'ed, and a
new run keeps the complete lines already written (checked against the input and the run's settings)
and goes on from there."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SETTINGS_SUFFIX = ".run.json"  # beside the output: the settings that its lines were made with


def setting_changes(recorded: dict[str, Any], current: dict[str, Any], may_change: Sequence[str] = ()) -> list[str]:
    """`"name old -> new"` for each setting of `current` (in its order) that `recorded` holds with
    another value, but those that `may_change`; settings one side lacks are not compared."""
    return [
        f"{name} {recorded[name]!r} -> {value!r}"
        for name, value in current.items()
        if name in recorded and name not in may_change and recorded[name] != value
    ]


class ResumableOutput:
    """Output lines for `records`, one per record, in order; `done` of them are already written.

    A partial last line (the run was killed while writing) is cut off. Lines already there must
    be predictions (`prediction_fields`) for the first records (same `text_field`), and the file's
    settings record (`PATH.run.json`, written with the first line) must equal `settings`: else
    `ValueError`, the file is another run's. Nothing is created before the first `write`.
    """

    def __init__(
        self,
        path: str | Path,
        records: Sequence[dict[str, Any]],
        text_field: str = "text",
        prediction_fields: Sequence[str] = (),
        settings: dict[str, Any] | None = None,
    ) -> None:
        self.path = Path(path)
        self.settings_path = self.path.with_name(self.path.name + SETTINGS_SUFFIX)
        self.text_field = text_field
        self.prediction_fields = tuple(prediction_fields)
        self.settings = settings or {}
        if self.path.is_dir():
            raise OSError(f"--output {self.path} is a folder.")
        if not self.path.parent.is_dir():
            raise OSError(f"--output {self.path}: the folder {self.path.parent} does not exist.")
        self.done = self._complete_lines(records) if self.path.exists() else 0
        if self.done:
            self._check_settings()
        self._handle: Any = None

    def write(self, lines: Sequence[str]) -> None:
        """Append `lines` and make them durable before returning."""
        if self._handle is None:
            if self.done == 0:  # a new file: record how its lines are made
                self.settings_path.write_text(json.dumps(self.settings, indent=1) + "\n", encoding="utf-8")
            self._handle = self.path.open("a", encoding="utf-8")
        self._handle.write("".join(line + "\n" for line in lines))
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self.done += len(lines)

    def close(self) -> None:
        if self._handle is not None:
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
        # lines end at "\n" only: texts may hold U+2028, U+0085, ... which str.splitlines() would split on
        lines = complete.decode("utf-8", errors="replace").split("\n")[:-1] if complete else []
        if len(lines) > len(records):
            raise ValueError(f"--output {self.path} has {len(lines)} lines, more than the input's {len(records)}.")
        for number, (line, record) in enumerate(zip(lines, records), 1):
            try:
                written = json.loads(line)
            except json.JSONDecodeError:
                written = None
            if not isinstance(written, dict) or written.get(self.text_field) != record[self.text_field]:
                raise ValueError(
                    f"--output {self.path}:{number} is not the output of input line {number}; "
                    "it belongs to another run (remove it or choose another file)."
                )
            missing = [name for name in self.prediction_fields if name not in written]
            if missing:
                raise ValueError(
                    f"--output {self.path}:{number} has no {'/'.join(missing)} field: it is not this "
                    "command's output (is it a copy of the input?); choose another file."
                )
        return len(lines)

    def _check_settings(self) -> None:
        """The lines already written were made with these settings (when the file says so)."""
        if not self.settings_path.exists():  # written before settings were recorded: the text check stands
            return
        try:
            recorded = json.loads(self.settings_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(
                f"{self.settings_path} is unreadable ({error}); remove it or choose another file."
            ) from None
        if not isinstance(recorded, dict):
            raise ValueError(f"{self.settings_path} is not a settings record; remove it or choose another file.")
        changed = setting_changes(recorded, self.settings)
        if changed:
            raise ValueError(
                f"--output {self.path} holds {self.done} lines made with other settings ({', '.join(changed)}); "
                "run with the same settings to finish it, or choose another file."
            )
