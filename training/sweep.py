"""Train several configs and score each on the evaluation sets: architecture choice by measurement.

    python -m training.sweep --configs training/configs/minilm-*.yaml --out runs/sweep [--max-seconds 140]
        [--max-steps N]

Each config is scored on every set under `eval/` of its own data folder (its `data_dir`, else
$GLICLASS_DATA_DIR, else ../shared/data), as `training.train` reads its data.
Writes `<out>/sweep.json`: per config, macro/micro-F1, accuracy and mAP on every eval set,
the mean macro-F1 over the single-label sets, and the training log summary.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from gliclass.cli import run_command
from gliclass.data import eval_sets

from .engine import RUN_ERRORS
from .evaluation import evaluate_set
from .recipe import config_data_dir, read_config, run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", type=Path, nargs="+", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--max-seconds", type=float, default=None, help="safety limit of training time per config")
    parser.add_argument("--max-steps", type=int, default=None, help="train each config this many steps (a short try)")
    parser.add_argument("--batch-size", type=int, default=64, help="evaluation batch size")
    parser.add_argument("--eval-limit", type=int, default=None, help="score only the first N texts of each set")
    parser.add_argument("--model", default=None, help="override each config's 'model' (e.g. a local encoder folder)")
    args = parser.parse_args(argv)
    if args.max_steps is not None and args.max_steps < 1:
        parser.error("--max-steps must be a positive integer.")
    if args.eval_limit is not None and args.eval_limit < 1:
        parser.error("--eval-limit must be a positive integer.")
    configs = {path.stem: read_config(path) for path in args.configs}  # every config checked before any run
    used = [name for name in configs if (args.out / name).exists()]
    if used:  # a sweep does not resume (training.train --resume does)
        raise ValueError(f"{args.out} holds earlier runs of {', '.join(used)}; choose another --out.")
    eval_folders = {config_data_dir(config) / "eval" for config in configs.values()}
    sets_in = {folder: eval_sets(folder) for folder in eval_folders}  # a folder without sets is an OSError
    args.out.mkdir(parents=True, exist_ok=True)
    report = {}
    for name, config in configs.items():
        if args.model:
            config["model"] = args.model
        config["training"]["output_dir"] = str(args.out / name)
        if args.max_seconds:
            config["training"]["max_seconds"] = args.max_seconds
        if args.max_steps:
            config["training"]["max_steps"] = args.max_steps
        sets = sets_in[config_data_dir(config) / "eval"]
        started = time.time()
        model = run(config)
        train_seconds = time.time() - started
        device = "cuda" if torch.cuda.is_available() else "cpu"
        scores = {}
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=device == "cuda"):
            for labelled in sets:
                scores[labelled.name] = evaluate_set(
                    model, labelled, device=device, batch_size=args.batch_size, limit=args.eval_limit
                )
        single = [s["macro_f1"] for n, s in scores.items() if not next(e for e in sets if e.name == n).multi_label]
        mean = sum(single) / len(single) if single else None
        log = [json.loads(line) for line in (args.out / name / "metrics.jsonl").read_text().splitlines()]
        report[name] = {
            "config": config,
            "train_seconds": train_seconds,
            "steps": log[-1]["step"] if log else 0,
            "final_loss": log[-1].get("loss") if log else None,
            "log": log,
            "eval": scores,
            "mean_macro_f1_single_label": mean,
        }
        print(
            f"{name}: mean single-label macro-F1 {float('nan') if mean is None else mean:.3f} "
            + " ".join(f"{n}={s['macro_f1']:.3f}" for n, s in scores.items()),
            flush=True,
        )
        (args.out / "sweep.json").write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    sys.exit(run_command(f"python -m {__spec__.name}", main, RUN_ERRORS))
