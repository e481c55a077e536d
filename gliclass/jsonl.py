"""Reading JSON-lines files (or standard input), and files holding one JSON array of records, with
errors located by `FILE:LINE`; `read_lines` is the UTF-8 line reader under them."""

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
    for where, line in read_lines(path, error):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as problem:
            raise error(f"{where}: not valid JSON ({_reason(problem)}, column {problem.colno}).") from None
        yield where, record


def read_lines(
    path: str | Path, error: type[ValueError] = ValueError, keep_breaks: bool = False
) -> Iterator[tuple[str, str]]:
    """`("FILE:LINE", line without its line break)` for every line of the UTF-8 file `path` (`-`:
    standard input; a byte-order mark is dropped), with its break (`\n` or `\r\n`) if `keep_breaks`.
    A line that is not UTF-8 raises `error` naming `FILE:LINE`; a missing file or a folder raises
    `OSError`."""
    if str(path) == STDIN:
        yield from _decoded(sys.stdin.buffer, "<stdin>", error, keep_breaks)
        return
    path = Path(path)
    if path.is_dir():
        raise OSError(f"{path} is a folder, not a file of lines.")
    if not path.exists():  # pipes and process substitutions (`<(...)`) are read like files
        raise OSError(f"{path} does not exist.")
    with path.open("rb") as handle:
        yield from _decoded(handle, str(path), error, keep_breaks)


def _decoded(handle: BinaryIO, name: str, error: type[ValueError], keep_breaks: bool) -> Iterator[tuple[str, str]]:
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
        yield where, line if keep_breaks else line.rstrip("\r\n")  # errors point into the line, not past its end


def starts_json_array(path: str | Path) -> bool:
    """Whether the file's first visible character is `[` (a JSON array, not JSON lines of objects)."""
    if str(path) == STDIN or not Path(path).is_file():
        return False
    with Path(path).open("rb") as handle:
        start = handle.read(4096).removeprefix(b"\xef\xbb\xbf").lstrip()
    return start.startswith(b"[")


def read_json_array(path: str | Path, error: type[ValueError] = ValueError) -> Iterator[tuple[str, Any]]:
    """`("FILE:LINE", decoded JSON)` for every element of the JSON array that `path` holds (the line
    where the element starts); a file that is not UTF-8 or not such an array raises `error` naming
    `FILE:LINE`."""
    raw = Path(path).read_bytes().removeprefix(b"\xef\xbb\xbf")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as problem:
        line = raw.count(b"\n", 0, problem.start) + 1
        raise error(f"{path}:{line}: not valid UTF-8 (byte {raw[problem.start]:#04x}).") from None
    decoder = json.JSONDecoder()
    line, counted = 1, 0  # line of position `counted`

    def where(position: int) -> str:
        nonlocal line, counted
        line += text.count("\n", counted, position)
        counted = position
        return f"{path}:{line}"

    position = _skip_space(text, text.index("[") + 1)
    if text.startswith("]", position):
        return
    while True:
        try:
            record, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as problem:
            raise error(
                f"{path}:{problem.lineno}: not valid JSON ({_reason(problem)}, column {problem.colno})."
            ) from None
        yield where(position), record
        position = _skip_space(text, end)
        if text.startswith("]", position):
            break
        if not text.startswith(",", position):
            raise error(f"{where(position)}: expected ',' or ']' after an element of the JSON array.")
        position = _skip_space(text, position + 1)
    if text[position + 1 :].strip():
        raise error(f"{where(position + 1)}: text after the end of the JSON array.")


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def _reason(problem: json.JSONDecodeError) -> str:
    return problem.msg.removesuffix(" at")  # "Invalid control character at" reads as "... at, column 3"
