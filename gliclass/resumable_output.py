"""A JSONL output file that a killed run resumes: lines are appended in chunks and fsync'ed, and a
new run keeps the complete lines already written (checked against the input and the run's settings)
and goes on from there."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SETTINGS_SUFFIX = ".run.json"  # beside the output: the settings that its lines were made with


def setting_changes(recorded: dict[str, Any], current: dict[str, Any], may_change: Sequence[str] = ()) -> list[str]:
    """`"name old -> new"` for each setting of `current` (in its order) that `recorded` holds with
    another value, but those that `may_change`; settings one side lacks are not compared. A
    fingerprint (`model_files`, `episodes_sha1`: "episodes") is named as changed, without its digests."""
    return [
        f"{name.removesuffix('_sha1').replace('_', ' ')} changed"
        if name.endswith("_sha1") or name == "model_files"
        else f"{name} {recorded[name]!r} -> {value!r}"
        for name, value in current.items()
        if name in recorded and name not in may_change and recorded[name] != value
    ]


class ResumableOutput:
    """Output lines for `records`, one per record, in order; `done` of them are already written.

    Lines already there must be predictions (`prediction_fields`) for the first records (same
    `text_field`), and the file's settings record (`PATH.run.json`, written with the first line) must
    equal `settings`: else `ValueError`, the file is another run's, and it is left as it was. Only then
    is a partial last line (the run was killed while writing) cut off. A file that is not a regular
    one, or cannot be written, is an `OSError`. Nothing is created before the first `write`.
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
        if self.path.is_dir():
            raise OSError(f"--output {self.path} is a folder.")
        self.settings_path = self.path.with_name(self.path.name + SETTINGS_SUFFIX)
        self.text_field = text_field
        self.prediction_fields = tuple(prediction_fields)
        self.settings = settings or {}
        if not self.path.parent.is_dir():
            raise OSError(f"--output {self.path}: the folder {self.path.parent} does not exist.")
        if self.path.exists() and not self.path.is_file():
            raise OSError(
                f"--output {self.path} is not a regular file; leave out --output to write to standard output."
            )
        self._check_writable()
        self.done = self._resumed_lines(records) if self.path.exists() else 0
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

    def _check_writable(self) -> None:
        """Fail now, not after the model has loaded and a chunk is classified."""
        try:
            if self.path.exists():
                self.path.open("ab").close()
            else:
                tempfile.TemporaryFile(dir=self.path.parent).close()
            if self.settings_path.exists():
                self.settings_path.open("ab").close()
        except OSError as error:
            raise OSError(f"--output {self.path} cannot be written ({error.strerror or error}).") from None

    def _resumed_lines(self, records: Sequence[dict[str, Any]]) -> int:
        """How many records the file's complete lines answer (checked), its partial last line cut off."""
        data = self.path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]
        # lines end at "\n" only: texts may hold U+2028, U+0085, ... which str.splitlines() would split on
        lines = complete.decode("utf-8", errors="replace").split("\n")[:-1] if complete else []
        if data and not self.settings_path.exists() and not (lines and self._is_record(lines[0])):
            raise ValueError(
                f"--output {self.path} already holds text that is not a run of this command; choose another file."
            )
        self._check_lines(lines, records)
        if lines:
            self._check_settings(len(lines))
        if len(complete) < len(data):  # killed mid-line: drop the partial line
            with self.path.open("r+b") as handle:
                handle.truncate(len(complete))
        return len(lines)

    def _is_record(self, line: str) -> bool:
        """Whether `line` is a JSON record with the text field: a run's line (its settings record may
        be missing: runs before it was recorded wrote none) or a copy of the input, which the line
        checks then name."""
        try:
            written = json.loads(line)
        except json.JSONDecodeError:
            return False
        return isinstance(written, dict) and self.text_field in written

    def _check_lines(self, lines: Sequence[str], records: Sequence[dict[str, Any]]) -> None:
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

    def _check_settings(self, done: int) -> None:
        """The `done` lines already written were made with these settings (when the file says so)."""
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
                f"--output {self.path} holds {done} lines made with other settings ({', '.join(changed)}); "
                "run with the same settings to finish it, or choose another file."
            )
