"""One-call few-shot fine-tuning: `finetune(model, examples, labels=..., epochs=..., seed=...)`."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gliclass import GLiClassModel
from gliclass.prompt import check_labels, check_text

from .batches import FixedCandidatesSet
from .trainer import Trainer, TrainingArguments


def finetune(
    model: GLiClassModel | str | Path,
    examples: Sequence[dict[str, Any]],
    labels: Sequence[str] | None = None,
    epochs: float = 10,
    seed: int = 42,
    batch_size: int = 8,
    encoder_lr: float = 2e-5,
    head_lr: float = 1e-4,
    output_dir: str | Path | None = None,
    **training_options: Any,
) -> GLiClassModel:
    """Fine-tune on a few `{"text", "labels": [...]}` examples and return the model.

    Every example is shown with all candidate `labels` (default: every label in the examples),
    in a different order each epoch. Works from a fresh `GLiClassModel.from_backbone(...)` or a
    trained model; the result goes straight into `gliclass.pipeline(model=...)`. With
    `output_dir`, the final model is also saved there.
    """
    if isinstance(model, (str, Path)):
        model = GLiClassModel.from_pretrained(model)
    if not examples:
        raise ValueError("no examples given.")
    texts, targets = [], []
    for number, example in enumerate(examples):
        if not isinstance(example, dict) or "text" not in example or "labels" not in example:
            raise TypeError(f"example {number} must be a dict with 'text' and 'labels'.")
        texts.append(check_text(example["text"], f"example {number} text"))
        example_labels = example["labels"]
        if isinstance(example_labels, str) or not isinstance(example_labels, (list, tuple)):
            raise TypeError(f"example {number}: 'labels' must be a list of label names.")
        targets.append(check_labels(example_labels) if example_labels else [])
    candidates = (
        check_labels(list(labels))
        if labels is not None
        else list(dict.fromkeys(label for row in targets for label in row))
    )
    known = set(candidates)
    for number, example_targets in enumerate(targets):
        missing = [label for label in example_targets if label not in known]
        if missing:
            raise ValueError(f"example {number} has labels {missing} that are not in labels=.")
    train_set = FixedCandidatesSet(texts, targets, candidates, shuffle_seed=seed)
    with tempfile.TemporaryDirectory() as scratch:
        args = TrainingArguments(
            output_dir=str(output_dir or scratch),
            epochs=epochs,
            batch_size=batch_size,
            encoder_lr=encoder_lr,
            head_lr=head_lr,
            seed=seed,
            warmup_ratio=training_options.pop("warmup_ratio", 0.1),
            save_final_model=output_dir is not None,
            **training_options,
        )
        return Trainer(model, args, train_set).train()
