"""Supervised GLiClass training on `accelerate`: one code path for CPU, one GPU or many.

Mixed precision where the device has it, gradient accumulation, separate learning rates for the
backbone and the heads, warmup + decay, gradient clipping, periodic evaluation with best-model
keeping, and resumable checkpoints (model, optimizer, scheduler, RNG states, data position): a
run killed at any moment and resumed ends with the same weights as an uninterrupted one. The loop
is `training.engine`'s; this file holds the supervised step and evaluation.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader, Dataset

from gliclass import GLiClassModel
from gliclass.data import LabelledSet
from gliclass.labels_apart import LabelsApartInputs
from gliclass.padding import pad_id_of
from gliclass.pipeline import backbone_max_length
from gliclass.prompt import PromptEncoder

from .batches import Collator, FusedRowsCollator, LabelsApartCollator
from .calibration import calibrate_scores
from .engine import Run, RunArguments, Task, batch_seed, parameter_groups
from .evaluation import evaluate_set


@dataclass
class TrainingArguments(RunArguments):
    """Settings of a supervised run (all have working defaults but `output_dir`; see `RunArguments`).

    `eval_steps`: evaluate every so many steps (and at the end) on the first `eval_limit` texts of
    each eval set, keeping the best model in `output_dir/best`. `calibrate_batches`: before a new
    run, fit the logit scale and bias on this many training batches (`training.calibration`).
    `save_start_model`: save the model as it is before the first step to `output_dir/start`.
    """

    gradient_accumulation_steps: int = 1
    eval_steps: int | None = None
    eval_limit: int | None = 1000
    calibrate_batches: int = 0
    save_start_model: bool = False
    dataloader_workers: int = 0

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.gradient_accumulation_steps < 1:
            raise ValueError("batch_size and gradient_accumulation_steps must be at least 1.")
        if self.eval_limit is not None and self.eval_limit < 1:
            raise ValueError(f"eval_limit must be at least 1 (or null for every text), got {self.eval_limit}.")
        super().__post_init__()


class Trainer(Task):
    """Train `model` on `train_set` (items `(text, candidate_labels, targets)`), evaluating on `eval_sets`.

    `model` is a [`GLiClassModel`] or a baseline from `training.baselines` (any module with
    `collate(items)`, `forward(**batch).loss`, `score(texts, labels)` and `save_pretrained`).
    A model that encodes labels apart (`model.encodes_labels_apart`) trains as it infers: each
    distinct label of a batch is encoded once, each text once (`training_collator`, `batch_loss`).
    `train(resume=False)` runs it (see `training.engine.Task.train`).
    """

    args_file = "training_args.json"
    postfix = {"loss": ".4f"}

    def __init__(
        self,
        model: torch.nn.Module,
        args: TrainingArguments,
        train_set: Dataset,
        eval_sets: list[LabelledSet] | None = None,
    ) -> None:
        self.model = model
        self.args = args
        self.train_set = train_set
        self.eval_sets = eval_sets or []
        self.output_dir = Path(args.output_dir)
        self.collator = getattr(model, "collate", None) or training_collator(model, args.max_length)
        self.best_score: float | None = None

    @property
    def accumulation_steps(self) -> int:
        """Batches per optimizer step."""
        return self.args.gradient_accumulation_steps

    def build(self, accelerator: Accelerator) -> tuple[DataLoader, list[torch.nn.Module], list[dict[str, Any]]]:
        """The training loader, the model, and AdamW groups with the backbone's and the heads' rates."""
        args = self.args
        loader = DataLoader(
            self.train_set,
            batch_size=args.batch_size,
            shuffle=False,
            collate_fn=self.collator,
            num_workers=args.dataloader_workers,
        )
        prefix = getattr(self.model, "backbone_parameter_prefix", "model.encoder_model.")
        groups = parameter_groups(self.model, prefix, args.encoder_lr, args.head_lr, args.weight_decay)
        return loader, [self.model], groups

    def before_first_step(self, accelerator: Accelerator, loader: DataLoader) -> list[dict[str, Any]]:
        """Calibrate the score (`calibrate_batches`) and save the start model (`save_start_model`)."""
        args, records = self.args, []
        if args.calibrate_batches:
            if isinstance(self.collator, LabelsApartCollator):  # calibration reads joint rows
                loader = DataLoader(
                    self.train_set,
                    batch_size=args.batch_size,
                    collate_fn=gliclass_collator(self.model, args.max_length),
                )
            scale, bias = calibrate_scores(self.model, itertools.islice(loader, args.calibrate_batches))
            records.append({"step": 0, "calibrated_logit_scale": scale, "calibrated_logit_bias": bias})
        if args.save_start_model and accelerator.is_main_process:
            self.model.save_pretrained(self.output_dir / "start")  # e.g. for weight-space mixing afterwards
        return records

    def step(self, run: Run, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One forward/backward pass; the optimizer steps once every `gradient_accumulation_steps` batches."""
        accelerator, model, state = run.accelerator, run.model, run.state
        torch.manual_seed(batch_seed(self.args.seed, state))  # dropout replays exactly after a resume
        with accelerator.accumulate(model):
            loss = batch_loss(accelerator.unwrap_model(model) if "label_index" in batch else model, batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"loss is {loss.item()} at step {state['step']} (epoch {state['epoch']}); "
                    "lower the learning rate or check the data."
                )
            accelerator.backward(loss)
            if accelerator.sync_gradients and self.args.max_grad_norm:
                accelerator.clip_grad_norm_(model.parameters(), self.args.max_grad_norm)
            run.optimizer.step()
            run.scheduler.step()
            run.optimizer.zero_grad()
        return {"loss": loss.item(), "texts": batch["input_ids"].shape[0]}

    def summarize(self, window: list[dict[str, float]], seconds: float) -> dict[str, float]:
        """The mean loss and the texts per second since the last log line."""
        return {
            "loss": sum(metrics["loss"] for metrics in window) / len(window),
            "texts_per_second": sum(metrics["texts"] for metrics in window) / max(seconds, 1e-9),
        }

    def after_step(self, run: Run, finished: bool) -> None:
        """Evaluate every `eval_steps` steps and at the end, keeping the best model in `best/`."""
        eval_steps = self.args.eval_steps
        if self.eval_sets and ((eval_steps and run.state["step"] % eval_steps == 0) or finished):
            self._evaluate(run)
            run.model.train()

    def state_dict(self) -> dict[str, Any]:
        """The best mean macro-F1 so far."""
        return {"best_score": self.best_score}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take the best score from a checkpoint's state."""
        self.best_score = state.get("best_score")

    def _evaluate(self, run: Run) -> None:
        accelerator = run.accelerator
        if not accelerator.is_main_process:
            return
        unwrapped = accelerator.unwrap_model(run.model)
        unwrapped.eval()
        scores = {}
        with accelerator.autocast():
            for labelled in self.eval_sets:
                scores[labelled.name] = evaluate_set(
                    unwrapped, labelled, device=accelerator.device, limit=self.args.eval_limit
                )
        mean_macro = sum(s["macro_f1"] for s in scores.values()) / len(scores)
        run.log({"step": run.state["step"], "eval": scores, "eval_mean_macro_f1": mean_macro})
        if self.best_score is None or mean_macro > self.best_score:
            self.best_score = mean_macro
            unwrapped.save_pretrained(self.output_dir / "best")


def fitted_length(model: GLiClassModel, max_length: int) -> int:
    """`max_length`, or the backbone's limit where that is shorter (longer rows would index past its
    position embeddings)."""
    return min(max_length, backbone_max_length(model, model.tokenizer))


def gliclass_collator(model: GLiClassModel, max_length: int) -> Collator:
    """The collator that turns training items into padded rows for `model`'s tokenizer and label position."""
    if not isinstance(model, GLiClassModel):
        raise TypeError(f"cannot train a {type(model).__name__}: it has no collate() and is not a GLiClassModel.")
    if model.tokenizer is None:
        raise ValueError("the model has no tokenizer; load it with GLiClassModel.from_pretrained/from_backbone.")
    encoder = PromptEncoder(model.tokenizer, model.config.prompt_first, fitted_length(model, max_length))
    return Collator(encoder, pad_id_of(model.tokenizer))


def training_collator(model: torch.nn.Module, max_length: int) -> Collator | LabelsApartCollator | FusedRowsCollator:
    """The collator of `model`'s training batches: labels apart where the model encodes them apart,
    fused rows for a `bi-encoder-fused` model, else joint rows."""
    if not isinstance(model, GLiClassModel) or not (model.encodes_labels_apart or model.config.is_bi_encoder):
        return gliclass_collator(model, max_length)
    if model.tokenizer is None:
        raise ValueError("the model has no tokenizer; load it with GLiClassModel.from_pretrained/from_backbone.")
    builder = LabelsApartInputs.for_model(
        model.config, model.tokenizer, model.label_tokenizer, fitted_length(model, max_length)
    )
    collator = LabelsApartCollator if model.encodes_labels_apart else FusedRowsCollator
    return collator(builder, pad_id_of(model.tokenizer), pad_id_of(builder.label_tokenizer))


def batch_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The training loss of a batch: `model(**batch).loss` for joint rows; for a `LabelsApartCollator`
    batch, the distinct labels and the texts encoded apart, gathered per row and scored by `model.score`."""
    if "label_index" not in batch:
        return model(**batch).loss
    label_vectors = model.get_label_features(
        batch["label_input_ids"], batch["label_attention_mask"], batch["label_pooling_mask"]
    )
    text_vectors = model.get_text_features(batch["input_ids"], batch["attention_mask"])
    logits = model.score(text_vectors, label_vectors[batch["label_index"]], batch["label_mask"])
    return model.loss(logits, batch["labels"], batch["label_mask"])
