"""One system in its own process, for the speed benchmark (`python -m benchmarks.worker`).

Protocol, one JSON object per line each way (a superset of `reference_worker.py`'s):
  {"cmd": "load", "kind", "model", "threads", "batch_size", "device", "seed", "template"} -> {"ok": true}
  {"cmd": "prepare", "labels": [...]} -> {"seconds": t}   (label-only work, e.g. cached label vectors)
  {"cmd": "run", "texts": [...], "labels": [...]} -> {"seconds": t}
A failure answers {"error": "..."}.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from typing import Any

import torch

from .systems import System, SystemSpec, build_system


def answer(system: System | None, command: dict[str, Any]) -> tuple[System | None, dict[str, Any]]:
    """The system after the command, and the reply."""
    if command["cmd"] == "load":
        torch.set_num_threads(command["threads"])
        spec = SystemSpec(command["kind"], command["model"])
        system = build_system(spec, command["device"], command["batch_size"], command["seed"], command["template"])
        return system, {"ok": True}
    if system is None:
        raise RuntimeError("send a load command first.")
    start = time.perf_counter()
    if command["cmd"] == "prepare":
        system.prepare(command["labels"])
    elif command["cmd"] == "run":
        system.scores(command["texts"], command["labels"])
    else:
        raise ValueError(f"unknown command {command['cmd']!r}.")
    return system, {"seconds": time.perf_counter() - start}


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C reaches the whole group: end quietly, the parent reports it
    channel, sys.stdout = sys.stdout, sys.stderr  # stray prints must not corrupt the protocol
    system = None
    for line in sys.stdin:
        try:
            system, reply = answer(system, json.loads(line))
        except Exception as error:  # reported to the parent, which stops with the message
            reply = {"error": f"{type(error).__name__}: {error}"}
        print(json.dumps(reply), file=channel, flush=True)


if __name__ == "__main__":
    main()
