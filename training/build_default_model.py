"""Build the default model shipped in `gliclass/default_model/`: train, export fp16, evaluate, write the card.

    python -m training.build_default_model                       # the whole recipe, one command
    python -m training.build_default_model --checkpoint runs/minilm-isolated/best   # export + card only

Training follows `training/configs/minilm-isolated.yaml` (its best checkpoint by mean macro-F1 on the
zero-shot sets is kept). With `--mix`, the trained weights are then averaged with the model as it was
before training (`training.weight_mixing`). The export is float16 safetensors plus the tokenizer; the
exported folder is then loaded the way users load it and scored on every set under `<data_dir>/eval`
(all examples; multi-label sets at `--threshold`: `training.export`). `metrics.json` and the model
card `README.md` (`training.model_card`) are written next to the weights.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from gliclass import DEFAULT_MODEL_DIR, GLiClassModel
from gliclass.checkpoint import check_save_folder
from gliclass.cli import run_command
from gliclass.options import check_threshold

from .export import evaluate_exported, export, replace_export
from .model_card import REPO_ROOT, check_card_fits, write_card
from .recipe import DEFAULT_MODEL_CONFIG, MINILM_HUB_ID, config_data_dir, read_config, train_checkpoint
from .weight_mixing import best_mix, recalibrate


def main(argv: list[str] | None = None) -> None:
    """Train (unless `--checkpoint`), mix, export, evaluate and write metrics.json and the card."""
    parser = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--config", type=Path, default=DEFAULT_MODEL_CONFIG, help="training config (default: minilm-isolated)"
    )
    parser.add_argument("--checkpoint", type=Path, default=None, help="a trained GLiClass folder: skip training")
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL_DIR, help="where the shipped model goes")
    parser.add_argument("--threshold", type=_threshold, default=0.5, help="decision threshold for multi-label sets")
    parser.add_argument(
        "--mix", type=_alphas, default=(1.0, 0.7, 0.5, 0.35, 0.0), help="alphas to try (comma-separated; '1' for none)"
    )
    args = parser.parse_args(argv)
    check_save_folder(args.out)  # a file there is refused now, not after training and evaluation
    config = read_config(args.config)
    check_card_fits(config)  # before hours of training, not after
    data_dir = config_data_dir(config)
    checkpoint = args.checkpoint or train_checkpoint(config)
    model = GLiClassModel.from_pretrained(checkpoint)
    mixing = None
    if args.mix != (1.0,):
        start = checkpoint.parent / "start"
        if not (start / "config.json").is_file():
            raise ValueError(f"--mix needs the pre-training model at {start} (training.save_start_model: true).")
        model, mixing = best_mix(GLiClassModel.from_pretrained(start), model, args.mix, config, data_dir)
        if model.model.logit_bias is not None:
            mixing["recalibrated_scale_and_bias"] = recalibrate(model, config, data_dir)
    if config["model"] == "minilm":  # record the backbone's public id, not this machine's package folder
        model.config.encoder_model_name = model.config.encoder_config._name_or_path = MINILM_HUB_ID
    staging = args.out.parent / f".tmp-{args.out.name}"  # `--out` changes only once all of it is written
    shutil.rmtree(staging, ignore_errors=True)  # what a killed run left there is not this run's
    try:
        export(model, staging)
        metrics = evaluate_exported(staging, data_dir / "eval", args.threshold)
        trained_from = {"config": _relative(args.config), "checkpoint": _relative(checkpoint), "mixing": mixing}
        metrics["trained_from"] = trained_from
        (staging / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        write_card(staging, args.config)
        replace_export(staging, args.out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(json.dumps({name: round(s["macro_f1"], 3) for name, s in metrics["eval"].items()}))
    print(f"mean macro-F1 (single-label sets): {metrics['mean_macro_f1_single_label']:.3f}")


def _alphas(text: str) -> tuple[float, ...]:
    """`--mix`: comma-separated alphas in [0, 1]."""
    values = tuple(float(part) for part in text.split(",") if part.strip())
    if not values or not all(0.0 <= value <= 1.0 for value in values):
        raise argparse.ArgumentTypeError(f"alphas must be numbers in [0, 1], got {text!r}")
    return values


def _threshold(text: str) -> float:
    """`--threshold`: a number in [0, 1]."""
    try:
        return check_threshold(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1], got {text!r}") from None


def _relative(path: Path) -> str:
    """`path` relative to the repository root when under it (for metrics.json), else absolute."""
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(Path(path).resolve())


if __name__ == "__main__":
    sys.exit(run_command(f"python -m {__spec__.name}", main))
