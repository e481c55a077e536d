"""One system of the label-scale benchmark in its own process (`python -m benchmarks.label_scale_worker`).

Protocol, one JSON object per line each way:
  {"cmd": "load", "system", "threads", "batch_size", "seed"} -> {"ok": true}
  {"cmd": "prepare", "labels": [...]} -> {"seconds": t}   (label vectors computed ahead, where the system keeps them)
  {"cmd": "run", "texts": [...], "labels": [...]} -> {"seconds": t}
A failure answers {"error": "..."}.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

import torch

CACHED = "default model, label vectors cached"
UNCACHED = "default model, no label cache"
EMBEDDING = "embedding all-MiniLM-L6-v2"
CROSS_ENCODER = "cross-encoder all-MiniLM-L6-v2 (untrained head)"
SYSTEMS = (CACHED, UNCACHED, EMBEDDING, CROSS_ENCODER)


class DefaultModelSystem:
    """The shipped default model through the pipeline: a full call (every label ranked per text)."""

    def __init__(self, cached: bool, batch_size: int) -> None:
        import gliclass

        self.cached = cached
        self.pipeline = gliclass.pipeline(device="cpu", label_cache_size=50_000 if cached else 0)
        self.batch_size = batch_size

    def prepare(self, labels: Sequence[str]) -> None:
        if self.cached:
            self.pipeline.encode_labels(list(labels), batch_size=self.batch_size)

    def run(self, texts: Sequence[str], labels: Sequence[str]) -> None:
        self.pipeline(list(texts), candidate_labels=list(labels), batch_size=self.batch_size)


class BaselineSystem:
    """A `benchmarks.systems` baseline: its score table (label vectors cached by the embedding model)."""

    def __init__(self, name: str, batch_size: int, seed: int) -> None:
        from .systems import PACKAGED_MINILM, UNTRAINED, CrossEncoderSystem, EmbeddingSystem

        if name == EMBEDDING:
            self.system = EmbeddingSystem(PACKAGED_MINILM, "cpu", batch_size)
        else:
            self.system = CrossEncoderSystem(f"{UNTRAINED}{PACKAGED_MINILM}", "cpu", batch_size, seed)

    def prepare(self, labels: Sequence[str]) -> None:
        self.system.prepare(labels)

    def run(self, texts: Sequence[str], labels: Sequence[str]) -> None:
        self.system.scores(texts, labels)


def load(command: dict[str, Any]) -> DefaultModelSystem | BaselineSystem:
    name = command["system"]
    if name not in SYSTEMS:
        raise ValueError(f"unknown system {name!r}; one of {SYSTEMS}.")
    torch.set_num_threads(command["threads"])
    if name in (CACHED, UNCACHED):
        return DefaultModelSystem(name == CACHED, command["batch_size"])
    return BaselineSystem(name, command["batch_size"], command["seed"])


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C reaches the whole group: end quietly, the parent reports it
    channel, sys.stdout = sys.stdout, sys.stderr  # stray prints must not corrupt the protocol
    system = None
    for line in sys.stdin:
        command = json.loads(line)
        try:
            start = time.perf_counter()
            if command["cmd"] == "load":
                system = load(command)
            elif system is None:
                raise RuntimeError("send a load command first.")
            elif command["cmd"] == "prepare":
                system.prepare(command["labels"])
            elif command["cmd"] == "run":
                system.run(command["texts"], command["labels"])
            else:
                raise ValueError(f"unknown command {command['cmd']!r}.")
            reply: dict[str, Any] = {"ok": True, "seconds": time.perf_counter() - start}
        except Exception as error:  # reported to the parent, which stops with the message
            reply = {"error": f"{type(error).__name__}: {error}"}
        print(json.dumps(reply), file=channel, flush=True)


if __name__ == "__main__":
    main()
