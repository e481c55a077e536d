"""Export a model as shipped (float16 safetensors and tokenizer) and score the export as users load it."""

from __future__ import annotations

import copy
import os
import platform
import time
from pathlib import Path
from typing import Any

import torch

from gliclass import GLiClassModel
from gliclass.data import eval_sets

from .evaluation import evaluate_set

EXPORTED_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "metrics.json",
    "README.md",
)


def export(model: GLiClassModel, out: Path) -> None:
    """Write `model` to `out` as float16 safetensors with its tokenizer (replacing earlier exports)."""
    model = copy.deepcopy(model)
    out.mkdir(parents=True, exist_ok=True)
    for name in EXPORTED_FILES:
        (out / name).unlink(missing_ok=True)
    model.to(torch.float16).save_pretrained(out)


def replace_export(staging: Path, out: Path) -> None:
    """Move a finished export (weights, tokenizer, metrics, card) from `staging` into `out`, in place of
    an earlier export there; other files in `out` stay."""
    out.mkdir(parents=True, exist_ok=True)
    for name in EXPORTED_FILES:
        (out / name).unlink(missing_ok=True)
    for path in staging.iterdir():
        os.replace(path, out / path.name)


def evaluate_exported(folder: Path, eval_dir: Path, threshold: float) -> dict[str, Any]:
    """Scores of the exported model, loaded as users load it (float32 on CPU), on every eval set."""
    model = GLiClassModel.from_pretrained(folder).eval()
    started = time.time()
    scores, single, multi = {}, [], []
    for labelled in eval_sets(eval_dir):
        scores[labelled.name] = evaluate_set(model, labelled, threshold=threshold, device="cpu")
        if labelled.multi_label:
            multi.append(labelled.name)
        else:
            single.append(scores[labelled.name]["macro_f1"])
    machine = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    return {
        "eval": scores,
        "mean_macro_f1_single_label": sum(single) / len(single),
        "multi_label_sets": multi,
        "threshold": threshold,
        "seconds": time.time() - started,
        "machine": f"{machine}, torch {torch.__version__}",
        "weights_bytes": (folder / "model.safetensors").stat().st_size,
    }
