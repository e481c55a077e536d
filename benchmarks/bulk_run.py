"""A bulk run through the installed CLI: 1 vs N processes, and a SIGKILL followed by a resume.

    python -m benchmarks.bulk_run --texts 20000 --kill-after 40

Input: the first `--texts` texts of the short-text training sets (clinc150, then hate_offensive)
with an `id` field, written to a scratch folder. Runs `gliclass classify --output` with one process,
then with `--num-processes`, then once more killed with SIGKILL after `--kill-after` seconds and
started again. Prints the wall times and throughput lines, the lines written before the kill, and
whether the resumed output has one line per input line, in input order, with the labels of the
uninterrupted run (and whether the multi-process labels are the same).
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from gliclass.cli import run_command
from gliclass.data import load_set

from .arguments import positive_float, positive_int
from .data import data_dir

PROG = "python -m benchmarks.bulk_run"
SETS = ("clinc150", "hate_offensive")
LABELS = "sports,politics,business,technology,health,travel,food,finance,weather,music"


def write_input(path: Path, count: int) -> None:
    """The first `count` texts of SETS, one JSON line each with an `id`."""
    texts = [text for name in SETS for text in load_set(data_dir() / "train" / name, split="train").texts]
    if len(texts) < count:
        raise ValueError(f"only {len(texts)} texts in {', '.join(SETS)}; asked for {count}.")
    with path.open("w") as out:
        for index, text in enumerate(texts[:count]):
            out.write(json.dumps({"id": index, "text": text}) + "\n")


def classify(source: Path, target: Path, *extra: str) -> subprocess.Popen:
    """The CLI as a user runs it (the `gliclass` script beside this Python)."""
    script = shutil.which("gliclass", path=str(Path(sys.executable).parent)) or "gliclass"
    argv = [script, "classify", "--labels", LABELS, "--top-k", "3", "--input", str(source), "--output", str(target)]
    return subprocess.Popen([*argv, *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def timed(source: Path, target: Path, *extra: str) -> tuple[float, str]:
    """Wall seconds and the CLI's last stderr line (its throughput)."""
    began = time.perf_counter()
    process = classify(source, target, *extra)
    _, stderr = process.communicate()
    last = (stderr.strip().splitlines() or [""])[-1]
    if process.returncode:  # the CLI's own last line says why (its error, or a traceback's last line)
        raise OSError(f"gliclass classify failed with status {process.returncode}: {last}")
    return time.perf_counter() - began, last


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().split("\n") if line]  # not splitlines: U+2028 in texts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=positive_int, default=20000)
    parser.add_argument("--num-processes", type=positive_int, default=2)
    parser.add_argument("--kill-after", type=positive_float, default=40.0, help="seconds before the SIGKILL")
    args = parser.parse_args(argv)
    return run_command(PROG, lambda: run(args, sys.argv[1:] if argv is None else argv))


def run(args: argparse.Namespace, argv: Sequence[str]) -> None:
    """Write the input, run the CLI three ways (one killed and resumed), print what each did."""
    print(f"command: {PROG} {' '.join(argv)}", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        source = folder / "input.jsonl"
        write_input(source, args.texts)
        one, two, resumed = folder / "one.jsonl", folder / "many.jsonl", folder / "resumed.jsonl"
        seconds, line = timed(source, one)
        print(f"1 process: {seconds:.1f} s wall; {line}", flush=True)
        seconds, line = timed(source, two, "--num-processes", str(args.num_processes))
        print(f"{args.num_processes} processes: {seconds:.1f} s wall; {line}", flush=True)
        process = classify(source, resumed)
        time.sleep(args.kill_after)
        process.send_signal(signal.SIGKILL)
        process.wait()
        written = resumed.read_bytes().count(b"\n") if resumed.exists() else 0
        print(f"killed after {args.kill_after:.0f} s: {written} lines written", flush=True)
        seconds, line = timed(source, resumed)
        print(f"resumed: {seconds:.1f} s wall; {line}")
        expected, again, many = read(one), read(resumed), read(two)
        print(
            f"resumed lines {len(again)} of {args.texts}; ids in input order: "
            f"{[row['id'] for row in again] == list(range(args.texts))}; labels as uninterrupted: "
            f"{[row['labels'] for row in again] == [row['labels'] for row in expected]}; "
            f"{args.num_processes}-process labels as 1-process: "
            f"{[row['labels'] for row in many] == [row['labels'] for row in expected]}"
        )


if __name__ == "__main__":
    sys.exit(main())
