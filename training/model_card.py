"""The model card (README.md) of an exported model, from a template and the run's recorded facts.

    python -m training.model_card [--model gliclass/default_model] [--config CONFIG]

Prose lives in `training/templates/model_card.md` (and `model_card_mixing.md` for a mixed model); every
fact comes from the model folder's `metrics.json` and `config.json` or from the training config (the one
`metrics.json` records, unless `--config` names another).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from string import Template
from typing import Any

from gliclass import DEFAULT_MODEL_DIR
from gliclass.cli import run_command

from .data import CandidateSampler
from .recipe import DEFAULT_MODEL_CONFIG, config_data_dir, read_config
from .trainer import TrainingArguments

TEMPLATES = Path(__file__).resolve().parent / "templates"
REPO_ROOT = Path(__file__).resolve().parent.parent


def model_card(metrics: dict[str, Any], config: dict[str, Any], model_config: dict[str, Any]) -> str:
    """The card of a model with these metrics (`metrics.json`), training config and `config.json`."""
    check_card_fits(config)
    encoder = model_config["encoder_config"]
    options = config.get("model_options") or {}
    args = TrainingArguments(**config["training"])
    sampler = CandidateSampler(**(config.get("sampler") or {}))
    trained_from = metrics["trained_from"]
    facts = {
        "backbone": model_config["encoder_model_name"],
        "backbone_name": Path(model_config["encoder_model_name"]).name,
        "weights_mb": f"{metrics['weights_bytes'] / 1e6:.1f}",
        "layers": encoder["num_hidden_layers"],
        "width": encoder["hidden_size"],
        "max_tokens": encoder["max_position_embeddings"],
        "isolated_layers": options.get("segment_isolated_layers", 0),
        "model_options": ", ".join(f"`{key}: {json.dumps(value)}`" for key, value in options.items()),
        "config_path": trained_from["config"],
        "data_dir": config.get("data_dir") or _data_dir_name(config_data_dir(config)),
        "train_sets": ", ".join(
            f"{Path(entry['path']).name} ({entry.get('weight', 1.0)})" for entry in config["train"]
        ),
        "max_labels": sampler.max_labels,
        "own_negative_share": sampler.own_negative_share,
        "max_steps": args.max_steps,
        "batch_size": args.batch_size,
        "encoder_lr": args.encoder_lr,
        "head_lr": args.head_lr,
        "max_length": args.max_length,
        "mixed_precision": args.mixed_precision,
        "seed": args.seed,
        "loss": _loss(model_config),
        "eval_steps": args.eval_steps,
        "eval_limit": args.eval_limit,
        "selection_sets": ", ".join(Path(entry["path"]).name for entry in config.get("eval") or []),
        "mixing": _mixing(trained_from.get("mixing")),
        "calibration": _calibration(model_config.get("score_calibration"), metrics.get("score_calibration")),
        "threshold": metrics["threshold"],
        "machine": metrics["machine"],
        "rows": "\n".join(
            f"| {name} | {'multi' if name in metrics['multi_label_sets'] else 'single'} | "
            f"{s['macro_f1']:.3f} | {s['micro_f1']:.3f} | {s['accuracy']:.3f} |"
            for name, s in metrics["eval"].items()
        ),
        "mean_macro_f1": f"{metrics['mean_macro_f1_single_label']:.3f}",
        "weakest": ", ".join(
            f"{name} ({s['macro_f1']:.3f})"
            for name, s in sorted(metrics["eval"].items(), key=lambda item: item[1]["macro_f1"])[:2]
        ),
    }
    return Template((TEMPLATES / "model_card.md").read_text()).substitute(facts)


def check_card_fits(config: dict[str, Any]) -> None:
    """Refuse a training config whose model the card's prose does not describe: the template is the default
    model's (a segment-isolated MiniLM started as an embedder, kept by periodic evaluation), so `model` and
    `model_options` must be those of `DEFAULT_MODEL_CONFIG` and `eval` sets and `eval_steps` must be given."""
    recipe = read_config(DEFAULT_MODEL_CONFIG)
    differing = [key for key in ("model", "model_options") if config.get(key) != recipe[key]]
    if not config.get("eval") or not (config.get("training") or {}).get("eval_steps"):
        differing.append("eval / eval_steps (none)")
    if differing:
        raise ValueError(
            f"the model card describes the default model's recipe ({DEFAULT_MODEL_CONFIG.name}); "
            f"this config differs in {', '.join(differing)}."
        )


def write_card(folder: Path, config_path: Path | None = None) -> Path:
    """Write `folder/README.md` from `folder`'s metrics.json and config.json and the training config."""
    metrics = json.loads((folder / "metrics.json").read_text())
    config = read_config(config_path or _recorded_config(metrics["trained_from"]["config"]))
    model_config = json.loads((folder / "config.json").read_text())
    card = folder / "README.md"
    card.write_text(model_card(metrics, config, model_config))
    return card


def _recorded_config(recorded: str) -> Path:
    """The training config metrics.json records (relative to the checkout: `training/configs/...`);
    installed, this package's copy of it."""
    parts = Path(recorded).parts
    if parts[:1] == ("training",) and not (REPO_ROOT / recorded).exists():
        return Path(__file__).resolve().parent.joinpath(*parts[1:])
    return REPO_ROOT / recorded


def _data_dir_name(data_dir: Path) -> str:
    """The data folder as the card names it: relative to the checkout (`../shared/data`); installed, as given."""
    return os.path.relpath(data_dir, REPO_ROOT) if (REPO_ROOT / "pyproject.toml").is_file() else str(data_dir)


def _loss(model_config: dict[str, Any]) -> str:
    """The training loss the model config selects, in words."""
    if model_config.get("problem_type") == "single_label_classification":
        return "cross-entropy over the candidate labels"
    alpha, gamma = model_config["focal_loss_alpha"], model_config["focal_loss_gamma"]
    return "binary cross-entropy" if alpha < 0 and gamma == 0 else f"sigmoid focal loss (alpha {alpha}, gamma {gamma})"


def _calibration(coefficients: dict[str, float] | None, record: dict[str, Any] | None) -> str:
    """The card's words on `score_calibration` (config.json) and how it was fitted (metrics.json)."""
    if not coefficients:
        return "used as it is (no `score_calibration`)."
    terms = ", ".join(f"{name} {value:.3f}" for name, value in coefficients.items())
    fitted = f" (positive weight {record['pos_weight']})" if record else ""
    return (
        "then calibrated over the text's candidate labels (`score_calibration`: the logit, its log-softmax "
        f"over the candidates and log(label count); {terms}), fitted on held-out splits of the training "
        f"sets by `python -m training.fit_score_calibration`{fitted}, so that 0.5 means a label applies "
        "whether there are 2 candidates or 150."
    )


def _mixing(mixing: dict[str, Any] | None) -> str:
    """The card line on weight mixing (metrics.json `trained_from.mixing`); empty when not mixed."""
    if not mixing:
        return ""
    refitted = mixing.get("recalibrated_scale_and_bias")
    return Template((TEMPLATES / "model_card_mixing.md").read_text()).substitute(
        alpha=mixing["alpha"],
        eval_limit=mixing["eval_limit"],
        tried=", ".join(f"{alpha}: {mean:.3f}" for alpha, mean in mixing["mean_macro_f1_by_alpha"].items()),
        refitted=f"scale {refitted[0]:.2f}, bias {refitted[1]:.2f}" if refitted else "none (no logit bias)",
    )


def main(argv: list[str] | None = None) -> None:
    """Rewrite a model folder's card (nothing else in the folder changes)."""
    parser = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR, help="exported model folder")
    parser.add_argument(
        "--config", type=Path, default=None, help="training config (default: the one metrics.json records)"
    )
    args = parser.parse_args(argv)
    print(write_card(args.model, args.config))


if __name__ == "__main__":
    sys.exit(run_command(f"python -m {__spec__.name}", main))
