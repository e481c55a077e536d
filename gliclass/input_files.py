"""The files `gliclass classify --input` reads, by name: JSON lines (or one JSON array of objects),
CSV/TSV with a header row, or plain text with one text a line. Each gives `("FILE:LINE", record)`
pairs, the record a dict, so that every format is checked, classified and resumed alike."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .jsonl import STDIN, read_json_array, read_jsonl, read_lines, starts_json_array

DELIMITERS = {".csv": ",", ".tsv": "\t"}


def read_input_file(path: str, text_column: str, error: type[ValueError]) -> Iterator[tuple[str, Any]]:
    """The records of `path` (`-`: JSON lines on standard input), chosen by its suffix: `.csv`/`.tsv`
    rows as `{column: value}`, `.txt` lines as `{text_column: line}`, else JSON lines or a JSON array.
    Blank lines are skipped; a broken line raises `error` naming `FILE:LINE`."""
    suffix = Path(path).suffix.lower() if path != STDIN else ""
    if suffix in DELIMITERS:
        return read_delimited(path, DELIMITERS[suffix], text_column, error)
    if suffix == ".txt":
        return ((where, {text_column: line}) for where, line in read_lines(path, error) if line.strip())
    if starts_json_array(path):
        return read_json_array(path, error)
    return read_jsonl(path, error)


def read_delimited(path: str, delimiter: str, text_column: str, error: type[ValueError]) -> Iterator[tuple[str, Any]]:
    """`("FILE:LINE", {column: value})` for every row of a delimited file with a header row; a row
    is located at the line where it starts (a quoted value may span lines)."""
    located = read_lines(path, error, keep_breaks=True)  # a quoted value keeps its `\r\n` breaks
    starts: list[str] = []  # the location of every line the reader has taken

    def lines() -> Iterator[str]:
        for where, line in located:
            starts.append(where)
            yield line

    reader = csv.reader(lines(), delimiter=delimiter, strict=True)
    kind = "TSV" if delimiter == "\t" else "CSV"
    header = _next_row(reader, starts, kind, error)[1]
    if header is None:
        return
    if text_column not in header:
        raise error(f"{starts[0]}: the header has no '{text_column}' column (it has {header}); see --text-column.")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise error(f"{starts[0]}: the header names {repeated} more than once.")
    while True:
        where, row = _next_row(reader, starts, kind, error)
        if row is None:
            return
        if len(row) <= 1 and not "".join(row).strip():  # a blank line (a row of empty values is checked)
            continue
        if len(row) != len(header):
            raise error(f"{where}: {len(row)} values, the header has {len(header)} columns.")
        yield where, dict(zip(header, row))


def _next_row(
    reader: Iterator[list[str]], starts: list[str], kind: str, error: type[ValueError]
) -> tuple[str, list[str] | None]:
    """The next row and the location of its first line (`None` at the end); a broken row raises
    `error` there (a quoted value left open names the line that opens it)."""
    first = len(starts)
    limit = csv.field_size_limit(sys.maxsize)  # texts of any length, as in JSON lines (the default stops at 128 KiB)
    try:
        row = next(reader)
    except StopIteration:
        return "", None
    except csv.Error as problem:
        raise error(f"{starts[min(first, len(starts) - 1)]}: not valid {kind} ({problem}).") from None
    finally:
        csv.field_size_limit(limit)
    return starts[first], row
