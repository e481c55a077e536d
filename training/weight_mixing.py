"""Weight-space ensembling (WiSE-FT): average a trained model with its start and keep the best mix.

`start + alpha * (trained - start)`: alpha 1 is the trained model, alpha 0 the model before training.
"""

from __future__ import annotations

import copy
import itertools
from pathlib import Path
from typing import Any

from torch.utils.data import DataLoader

from gliclass import GLiClassModel

from .calibration import calibrate_scores
from .evaluation import evaluate_set
from .recipe import load_sets, training_set
from .trainer import TrainingArguments, gliclass_collator


def mixed(start: GLiClassModel, trained: GLiClassModel, alpha: float) -> GLiClassModel:
    """A copy of `trained` with weights `start + alpha * (trained - start)`."""
    model = copy.deepcopy(trained)
    start_state = start.state_dict()
    model.load_state_dict(
        {
            name: start_state[name] + alpha * (value - start_state[name]) if value.is_floating_point() else value
            for name, value in trained.state_dict().items()
        }
    )
    return model.eval()


def best_mix(
    start: GLiClassModel, trained: GLiClassModel, alphas: tuple[float, ...], config: dict[str, Any], data_dir: Path
) -> tuple[GLiClassModel, dict[str, Any]]:
    """The mix with the best mean macro-F1 on the config's evaluation sets (at its `eval_limit`)."""
    eval_sets = load_sets(config.get("eval") or [], data_dir, for_training=False)
    if not eval_sets:
        raise ValueError("--mix needs evaluation sets ('eval' in the config) to choose alpha on.")
    limit = TrainingArguments(**config["training"]).eval_limit  # as checkpoint selection
    means, best = {}, None
    for alpha in alphas:
        candidate = mixed(start, trained, alpha)
        scores = [evaluate_set(candidate, labelled, device="cpu", limit=limit)["macro_f1"] for labelled in eval_sets]
        means[alpha] = sum(scores) / len(scores)
        print(
            f"alpha {alpha}: mean macro-F1 {means[alpha]:.4f} on the first {limit} texts of each eval set", flush=True
        )
        if best is None or means[alpha] > means[best[0]]:
            best = (alpha, candidate)
    alpha, model = best
    return model, {"alpha": alpha, "mean_macro_f1_by_alpha": means, "eval_limit": limit}


def recalibrate(model: GLiClassModel, config: dict[str, Any], data_dir: Path) -> tuple[float, float]:
    """Refit the logit scale and bias of a mixed model on training batches, positives and negatives
    weighed equally (rankings are unchanged)."""
    args = TrainingArguments(**config["training"])
    loader = DataLoader(
        training_set(config, data_dir, args.seed),
        batch_size=args.batch_size,
        collate_fn=gliclass_collator(model, args.max_length),
    )
    return calibrate_scores(model, itertools.islice(loader, args.calibrate_batches or 20), balanced=True)
