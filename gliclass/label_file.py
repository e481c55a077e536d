"""A labels file: one label per line, so that labels may hold commas and there may be any number of
them (`gliclass classify --labels-file`, `training.feedback --labels-file`, `training.ppo --labels-file`)."""

from __future__ import annotations

import re
from pathlib import Path

from .prompt import check_labels

LINE_BREAK = re.compile(r"\r\n?|\n")  # what ends a line (not str.splitlines' form feeds, U+2028...)


def labels_from_file(path: Path) -> list[str]:
    """The non-blank lines of a labels file (split at line breaks only: `\\n`, `\\r\\n`, `\\r`), stripped,
    each one label; a line that is not UTF-8, a bad label or a repeated one is a `ValueError` naming
    `--labels-file FILE:LINE`."""
    return list(label_lines(path))


def label_lines(path: Path) -> dict[str, int]:
    """`{label: line number}` of a labels file, in its order (see `labels_from_file`)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"--labels-file {path} does not exist.") from None
    except IsADirectoryError:
        raise ValueError(f"--labels-file {path} is a folder.") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:  # its offsets are past the byte-order mark
        line = len(LINE_BREAK.split(error.object[: error.start].decode("utf-8")))
        byte = error.object[error.start]
        raise ValueError(f"--labels-file {path}:{line}: not valid UTF-8 (byte {byte:#04x}).") from None
    first_line: dict[str, int] = {}
    for number, line in enumerate(LINE_BREAK.split(text), 1):
        label = line.strip()
        if not label:
            continue
        try:
            check_labels([label])
        except ValueError as error:
            raise ValueError(f"--labels-file {path}:{number}: {error}") from None
        if label in first_line:
            raise ValueError(
                f"--labels-file {path}:{number}: label {label!r} is given twice (first on line {first_line[label]})."
            )
        first_line[label] = number
    if not first_line:
        raise ValueError(f"--labels-file {path} holds no labels.")
    return first_line
