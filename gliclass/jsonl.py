"""Reading JSON-lines files (or standard input) with errors located by `FILE:LINE`."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

STDIN = "-"


def read_jsonl(path: str | Path, error: type[ValueError] = ValueError) -> Iterator[tuple[str, Any]]:
    """`("FILE:LINE", decoded JSON)` for every non-blank line of `path` (`-`: standard input).

    A line that is not UTF-8 or not JSON raises `error` (a `ValueError` subclass) naming
    `FILE:LINE`; a missing file raises `OSError`.
    """
    if str(path) == STDIN:
        yield from _records(sys.stdin.buffer, "<stdin>", error)
        return
    path = Path(path)
    if path.is_dir():
        raise OSError(f"{path} is a folder, not a JSONL file.")
    if not path.exists():  # pipes and process substitutions (`<(...)`) are read like files
        raise OSError(f"{path} does not exist.")
    with path.open("rb") as handle:
        yield from _records(handle, str(path), error)


def _records(handle: BinaryIO, name: str, error: type[ValueError]) -> Iterator[tuple[str, Any]]:
    for number, raw in enumerate(handle, 1):
        where = f"{name}:{number}"
        if number == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as problem:
            raise error(
                f"{where}: not valid UTF-8 (byte {raw[problem.start]:#04x} at column {problem.start + 1})."
            ) from None
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as problem:
            reason = problem.msg.removesuffix(" at")  # "Invalid control character at" reads as "... at, column 3"
            raise error(f"{where}: not valid JSON ({reason}, column {problem.colno}).") from None
        yield where, record
