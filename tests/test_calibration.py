"""Score calibration: scale and bias fitted to training batches, the vectors untouched."""

from __future__ import annotations

import pytest
import torch

from gliclass import GLiClassModel
from gliclass.prompt import PromptEncoder
from training import Trainer, TrainingArguments
from training.batches import Collator, FixedCandidatesSet
from training.calibration import calibrate_scores

ITEMS = [
    ("the team won the match", ["sports", "politics", "music"], [1.0, 0.0, 0.0]),
    ("parliament passed the budget", ["sports", "politics", "science"], [0.0, 1.0, 0.0]),
    ("stocks fell sharply", ["business", "music"], [1.0, 0.0]),
    ("a new phone was announced", ["technology", "sports", "health"], [1.0, 0.0, 0.0]),
]


def _bce(model: GLiClassModel, batch: dict) -> float:
    with torch.no_grad():
        out = model(batch["input_ids"], batch["attention_mask"])
    mask = out.label_mask
    return float(torch.nn.functional.binary_cross_entropy_with_logits(out.logits[mask], batch["labels"][mask]))


def test_calibration_fits_scale_and_bias_only(backbone_dir, make_embedder) -> None:
    torch.manual_seed(0)
    model = make_embedder(logit_bias_init_value=0.0)
    batch = Collator(PromptEncoder(model.tokenizer, True, 128), model.tokenizer.pad_token_id)(ITEMS)
    before = {name: value.clone() for name, value in model.state_dict().items()}
    loss_before = _bce(model, batch)
    scale, bias = calibrate_scores(model, [batch])
    assert _bce(model, batch) < loss_before
    assert model.model.logit_scale.item() == pytest.approx(scale) and model.model.logit_bias.item() == pytest.approx(
        bias
    )
    changed = {name for name, value in model.state_dict().items() if not torch.equal(value, before[name])}
    assert changed == {"model.logit_scale", "model.logit_bias"}


def test_calibration_needs_a_bias(make_model) -> None:
    with pytest.raises(ValueError, match="logit bias"):
        calibrate_scores(make_model(normalize_features=True), [])


def test_trainer_calibrates_new_runs_and_logs_it(backbone_dir, tmp_path, make_embedder) -> None:
    torch.manual_seed(0)
    model = make_embedder(logit_bias_init_value=0.0).train()
    data = FixedCandidatesSet(
        [i[0] for i in ITEMS],
        [[label for label, target in zip(item[1], item[2]) if target] for item in ITEMS],
        ["sports", "politics", "music", "business", "technology"],
    )
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=1, batch_size=4, calibrate_batches=1, progress=False)
    Trainer(model, args, data).train()
    first = (tmp_path / "metrics.jsonl").read_text().splitlines()[0]
    assert "calibrated_logit_bias" in first
