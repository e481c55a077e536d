"""Runs the reference `gliclass` package for the speed benchmark, in the reference's own venv.

Protocol: one JSON command per stdin line, one JSON reply per stdout line.
  {"cmd": "load", "model": DIR, "threads": N, "batch_size": B}
  {"cmd": "run", "texts": [...], "labels": [...], "scores": true|false, "batch_size": B?}
      -> {"seconds": t, "scores": [[...]]}
Start it with `python -I` so that this repository's own `gliclass` is not importable.
"""

import json
import signal
import sys
import time

import torch
from transformers import AutoTokenizer

from gliclass import GLiClassModel, ZeroShotClassificationPipeline


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C reaches the whole group: end quietly, the parent reports it
    pipe = None
    batch_size = 8
    for line in sys.stdin:
        command = json.loads(line)
        if command["cmd"] == "load":
            torch.set_num_threads(command["threads"])
            model = GLiClassModel.from_pretrained(command["model"]).eval()
            tokenizer = AutoTokenizer.from_pretrained(command["model"])
            pipe = ZeroShotClassificationPipeline(
                model, tokenizer, classification_type="multi-label", device="cpu", progress_bar=False, max_length=512
            )
            batch_size = command["batch_size"]
            reply = {"ok": True}
        else:
            start = time.perf_counter()
            results = pipe(
                command["texts"], command["labels"], threshold=0.0, batch_size=command.get("batch_size", batch_size)
            )
            seconds = time.perf_counter() - start
            reply = {"seconds": seconds}
            if command.get("scores"):
                order = {label: i for i, label in enumerate(command["labels"])}
                table = []
                for predictions in results:
                    row = [0.0] * len(order)
                    for item in predictions:
                        row[order[item["label"]]] = item["score"]
                    table.append(row)
                reply["scores"] = table
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
