"""Command line: PPO fine-tuning from feedback or from full labels.

    python -m training.ppo --model M (--feedback fb.jsonl | --train data.jsonl --labels "a,b,c") --out DIR [options]

`--labels-file FILE` (one label per line) instead of `--labels` takes labels that hold commas.

The final model goes to DIR/final (config, safetensors weights, tokenizer), next to
`metrics.jsonl` and, with `--save-steps N`, `checkpoint-STEP` folders; `--resume` continues a
killed run from the latest one. Every `PPOArguments` field is an option (`--samples-per-text`, `--kl-coef`, ...).
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path
from typing import Any

from gliclass import GLiClassModel
from gliclass.data import load_set, read_examples
from gliclass.label_file import labels_from_file
from gliclass.prompt import check_labels

from ..engine import FINAL_DIR
from ..feedback.data import read_feedback
from ..recipe import config_data_dir, is_evaluation_set
from .episodes import Episode, episodes_from_examples, episodes_from_feedback
from .rewards import BUILT_IN, get_reward
from .trainer import PPOArguments, PPOTrainer

DEFAULT_POSITIVE_WEIGHT = 3.0


def load_episodes(feedback: Path | None, train: Path | None, labels: str | list[str] | None) -> list[Episode]:
    """Episodes from a feedback file, or from a labelled JSONL file/folder shown with `labels` (a list
    or a comma-separated string)."""
    if (feedback is None) == (train is None):
        raise ValueError("give exactly one of feedback and train.")
    if feedback is not None:
        if labels is not None:
            raise ValueError(
                "--labels and --labels-file go with --train; feedback records carry their own candidate labels."
            )
        return episodes_from_feedback(read_feedback(feedback))
    if is_evaluation_set(train, config_data_dir({})):
        raise ValueError(f"{train} is an evaluation set; training on it would spoil zero-shot results.")
    if labels is not None and train.is_file():  # a label outside --labels is named by FILE:LINE
        shown = check_labels(labels)
        examples = list(read_examples(train, shown))
    else:
        labelled = load_set(train)
        examples, shown = labelled.examples, check_labels(labels) if labels is not None else labelled.labels
    if not examples:
        raise ValueError(f"{train} holds no examples.")
    return episodes_from_examples(examples, shown)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog=f"python -m {__package__}", description="PPO fine-tuning of a GLiClass model from labels or feedback."
    )
    parser.add_argument(
        "--model", required=True, help="the starting GLiClass model (folder or hub id); also the KL reference"
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--feedback", type=Path, help="feedback JSONL (python -m training.feedback)")
    source.add_argument("--train", type=Path, help="labelled JSONL file ({'text', 'labels'}) or data folder")
    label_set = parser.add_mutually_exclusive_group()
    label_set.add_argument("--labels", help="comma-separated candidate labels for --train (default: the data's labels)")
    label_set.add_argument(
        "--labels-file", type=Path, help="candidate labels for --train, one per line (labels may hold commas)"
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="output folder: final model (in final/), checkpoints, metrics.jsonl"
    )
    parser.add_argument("--reward", choices=sorted([*BUILT_IN, "recall_weighted"]), default="recall_weighted")
    parser.add_argument(
        "--positive-weight",
        type=float,
        default=None,
        help=f"weight of true/accepted labels for recall_weighted (default {DEFAULT_POSITIVE_WEIGHT})",
    )
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    for option in fields(PPOArguments):
        if option.name != "output_dir":
            _add_option(parser, option.name, option.type, option.default)
    args = parser.parse_args(argv)
    if args.positive_weight is not None and args.reward != "recall_weighted":
        parser.error(f"--positive-weight goes with --reward recall_weighted, not {args.reward}")
    labels = args.labels if args.labels_file is None else labels_from_file(args.labels_file)
    episodes = load_episodes(args.feedback, args.train, labels)
    settings = {
        option.name: getattr(args, option.name) for option in fields(PPOArguments) if option.name != "output_dir"
    }
    ppo_args = PPOArguments(output_dir=str(args.out), **settings)
    positive_weight = DEFAULT_POSITIVE_WEIGHT if args.positive_weight is None else args.positive_weight
    reward = get_reward(args.reward, positive_weight)
    PPOTrainer(GLiClassModel.from_pretrained(args.model), ppo_args, episodes, reward).train(resume=args.resume)
    print(f"saved the PPO-tuned model to {args.out / FINAL_DIR}")


def _add_option(parser: argparse.ArgumentParser, name: str, kind: str, default: Any) -> None:
    """A `--name` option for a `PPOArguments` field, typed after its annotation."""
    flag = "--" + name.replace("_", "-")
    if kind == "bool":
        parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        return
    convert = {"int": int, "float": float, "str": str}[kind.split(" | ")[0]]
    help_text = f"default {default}" + (" (none: off)" if "None" in kind else "")
    parser.add_argument(flag, type=_optional(convert) if "None" in kind else convert, default=default, help=help_text)


def _optional(convert: type) -> Any:
    def parse(text: str) -> Any:
        return None if text.lower() == "none" else convert(text)

    parse.__name__ = convert.__name__
    return parse
