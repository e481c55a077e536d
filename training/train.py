"""Command line: `python -m training.train --config cfg.yaml [--resume] [overrides]`.

The config format is described in `training/recipe.py`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gliclass.cli import run_command

from .engine import RUN_ERRORS
from .recipe import read_config, run


def main(argv: list[str] | None = None) -> None:
    """Train from a config file, with command-line overrides of a few of its settings."""
    parser = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description="Train a GLiClass model.")
    parser.add_argument("--config", type=Path, required=True, help="YAML or JSON config")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in output_dir")
    parser.add_argument("--model", help="override 'model'")
    parser.add_argument("--output-dir", help="override training.output_dir")
    parser.add_argument("--max-steps", type=int, help="override training.max_steps")
    parser.add_argument("--max-seconds", type=float, help="override training.max_seconds")
    parser.add_argument("--epochs", type=float, help="override training.epochs")
    parser.add_argument("--batch-size", type=int, help="override training.batch_size")
    parser.add_argument(
        "--save-steps", type=int, help="override training.save_steps (checkpoints --resume continues from)"
    )
    args = parser.parse_args(argv)
    config = read_config(args.config)
    if args.model:
        config["model"] = args.model
    training = config.setdefault("training", {})
    for key in ("output_dir", "max_steps", "max_seconds", "epochs", "batch_size", "save_steps"):
        if getattr(args, key) is not None:
            training[key] = getattr(args, key)
    run(config, resume=args.resume)


if __name__ == "__main__":
    sys.exit(run_command(f"python -m {__spec__.name}", main, RUN_ERRORS))
