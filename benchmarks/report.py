"""Writing results: Markdown tables, the environment, and the JSON + Markdown files of a run."""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

RUNS = Path(__file__).resolve().parent.parent / "runs" / "benchmarks"  # git-ignored


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub Markdown table; the first column is left-aligned, the others right-aligned."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def command_line(argv: Sequence[str]) -> str:
    """The command that reproduces this run."""
    return "python -m benchmarks " + shlex.join(argv)


def cpu_count() -> int:
    """CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def environment() -> dict[str, Any]:
    """Versions and machine facts that the numbers depend on."""
    versions = {}
    for package in ("gliclass", "torch", "transformers", "tokenizers", "datasets"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus_available": cpu_count(),
        "versions": versions,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def new_run_folder() -> Path:
    """A folder for one run's results that no earlier run used: `runs/benchmarks/<date-time>[-N]`."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder, copy = RUNS / stamp, 2
    while folder.exists():
        folder, copy = RUNS / f"{stamp}-{copy}", copy + 1
    return folder


def check_output(path: Path | None, option: str, folder: bool = True) -> None:
    """Fail at the start of a run, not after it, where `option`'s `path` (a folder, or a file when not
    `folder`) cannot be written: the other kind is there, or its folder cannot be made (made now)."""
    if path is None:
        return
    if path.exists() and path.is_dir() != folder:
        kind, wanted = ("a file", "a folder") if folder else ("a folder", "a file")
        raise OSError(f"{option} {path} is {kind}; give {wanted}.")
    try:
        (path if folder else path.parent).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OSError(f"{option} {path}: {error.strerror or error}.") from None


def report_entries(paths: Sequence[Path], key: str, command: str) -> list[Any]:
    """The `key` entry of each JSON file that `--report` names, in order; a file that is not the
    JSON of a `command` run (not JSON, or without `key`) is an error naming it."""
    entries = []
    for path in paths:
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict) or key not in payload:
            raise ValueError(f"--report {path} is not the JSON of a {command} run.")
        entries.append(payload[key])
    return entries


def write_run(out: Path, name: str, markdown: str, payload: dict[str, Any]) -> tuple[Path, Path]:
    """`<out>/<name>.md` and `<out>/<name>.json`; returns both paths."""
    out.mkdir(parents=True, exist_ok=True)
    markdown_path, json_path = out / f"{name}.md", out / f"{name}.json"
    markdown_path.write_text(markdown.rstrip() + "\n", encoding="utf-8")
    json_path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return markdown_path, json_path
