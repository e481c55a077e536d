"""Systems in worker processes (one JSON command per line each way), and their peak memory.

Each system runs in its own process so that its peak resident memory is its own. Peak RSS is
the kernel's high-water mark, `VmHWM` in `/proc/<pid>/status`, reset before each measurement by
writing `5` to `/proc/<pid>/clear_refs`; so it is Linux-only (elsewhere it is not reported).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from .data import REPO_ROOT

REFERENCE_WORKER = Path(__file__).with_name("reference_worker.py")
MEMORY_METHOD = "peak RSS (VmHWM from /proc/<pid>/status, reset through /proc/<pid>/clear_refs before each label count)"


def check_reference_python(python: str) -> None:
    """Refuse a `--reference-python` that does not run, or that cannot import the reference package."""
    try:
        done = subprocess.run(
            [python, "-I", "-c", "from gliclass import GLiClassModel, ZeroShotClassificationPipeline"],
            capture_output=True,
            text=True,
            cwd=tempfile.gettempdir(),
        )
    except OSError as error:
        raise OSError(f"--reference-python {python}: {error.strerror or error}.") from None
    if done.returncode:
        last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise OSError(f"--reference-python {python} cannot import the reference gliclass package: {last}")


class WorkerError(RuntimeError):
    """A worker failed (its error, e.g. a model that does not load) or exited."""


class Worker:
    """A persistent subprocess answering JSON commands (see `benchmarks.worker`)."""

    def __init__(self, name: str, argv: list[str], cwd: Path) -> None:
        self.name = name
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=cwd)

    @classmethod
    def ours(cls, name: str) -> Worker:
        """This repository's worker, run by the current Python."""
        return cls(name, [sys.executable, "-m", "benchmarks.worker"], REPO_ROOT)

    @classmethod
    def reference(cls, name: str, python: str) -> Worker:
        """The reference `gliclass` package's worker, in its own venv (isolated from this repository)."""
        return cls(name, [python, "-I", str(REFERENCE_WORKER)], Path(tempfile.gettempdir()))

    def send(self, command: dict[str, Any]) -> None:
        assert self.process.stdin
        try:
            self.process.stdin.write(json.dumps(command) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            raise WorkerError(f"the worker for {self.name} exited; see its error output above.") from None

    def receive(self) -> dict[str, Any]:
        assert self.process.stdout
        line = self.process.stdout.readline()
        if not line:
            raise WorkerError(f"the worker for {self.name} exited; see its error output above.")
        reply = json.loads(line)
        if "error" in reply:
            raise WorkerError(f"the worker for {self.name} failed: {reply['error']}")
        return reply

    def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        self.send(command)
        return self.receive()

    def reset_peak_memory(self) -> bool:
        """Reset the peak-RSS mark to the current RSS; False where the system does not allow it."""
        try:
            Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")
            return True
        except OSError:
            return False

    def peak_memory_mb(self) -> float | None:
        """Peak resident memory in MiB since the last reset, or None where /proc is missing."""
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return None

    def close(self) -> None:
        if self.process.stdin:
            try:
                self.process.stdin.close()
            except BrokenPipeError:  # it exited with a command unread
                pass
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
