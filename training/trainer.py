"""Supervised GLiClass training on `accelerate`: one code path for CPU, one GPU or many.

Mixed precision where the device has it, gradient accumulation, separate learning rates for the
backbone and the heads, warmup + decay, gradient clipping, periodic evaluation with best-model
keeping, and resumable checkpoints (model, optimizer, scheduler, RNG states, data position): a
run killed at any moment and resumed ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm
from transformers import get_scheduler

from gliclass import GLiClassModel
from gliclass.prompt import PromptEncoder

from .batches import Collator
from .calibration import calibrate_scores
from .data import LabelledSet
from .evaluation import evaluate_set

STATE_FILE = "trainer_state.json"


@dataclass
class TrainingArguments:
    """Settings of a training run (all have working defaults but `output_dir`).

    `calibrate_batches`: before a new run, fit the logit scale and bias on this many training
    batches (`training.calibration`). `save_start_model`: save the model as it is before the first
    step to `output_dir/start`.
    """

    output_dir: str
    epochs: float = 1.0
    max_steps: int | None = None
    batch_size: int = 16
    gradient_accumulation_steps: int = 1
    encoder_lr: float = 3e-5
    head_lr: float = 2e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.05
    scheduler: str = "linear"
    max_grad_norm: float = 1.0
    mixed_precision: str = "auto"
    max_length: int = 256
    logging_steps: int = 25
    eval_steps: int | None = None
    eval_limit: int | None = 1000
    save_steps: int | None = None
    keep_checkpoints: int = 2
    seed: int = 42
    max_seconds: float | None = None
    calibrate_batches: int = 0
    save_start_model: bool = False
    save_final_model: bool = True
    dataloader_workers: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.gradient_accumulation_steps < 1:
            raise ValueError("batch_size and gradient_accumulation_steps must be at least 1.")
        if self.epochs <= 0 and not self.max_steps:
            raise ValueError("set epochs > 0 or max_steps.")
        if self.mixed_precision not in ("auto", "no", "fp16", "bf16"):
            raise ValueError(f"mixed_precision must be auto, no, fp16 or bf16, got {self.mixed_precision!r}.")


class Trainer:
    """Train `model` on `train_set` (items `(text, candidate_labels, targets)`), evaluating on `eval_sets`.

    `model` is a [`GLiClassModel`] or a baseline from `training.baselines` (any module with
    `collate(items)`, `forward(**batch).loss`, `score(texts, labels)` and `save_pretrained`).
    """

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
        self.collator = getattr(model, "collate", None) or gliclass_collator(model, args.max_length)

    def train(self, resume: bool | str = False) -> GLiClassModel:
        """Run training; `resume=True` continues from the latest checkpoint in `output_dir`."""
        args = self.args
        accelerator = Accelerator(
            mixed_precision=_mixed_precision(args.mixed_precision),
            gradient_accumulation_steps=args.gradient_accumulation_steps,
        )
        set_seed(args.seed)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        loader = DataLoader(
            self.train_set,
            batch_size=args.batch_size,
            shuffle=False,
            collate_fn=self.collator,
            num_workers=args.dataloader_workers,
        )
        steps_per_epoch = max(1, len(loader) // args.gradient_accumulation_steps)
        total_steps = args.max_steps or math.ceil(steps_per_epoch * args.epochs)
        prefix = getattr(self.model, "backbone_parameter_prefix", "model.encoder_model.")
        groups = parameter_groups(self.model, prefix, args.encoder_lr, args.head_lr, args.weight_decay)
        optimizer = torch.optim.AdamW(groups, lr=args.head_lr)
        scheduler = get_scheduler(
            args.scheduler, optimizer, num_warmup_steps=int(args.warmup_ratio * total_steps), num_training_steps=total_steps
        )
        checkpoint = resume_checkpoint(self.output_dir, resume)
        calibration = None
        if checkpoint is None and args.calibrate_batches:
            scale, bias = calibrate_scores(self.model, itertools.islice(loader, args.calibrate_batches))
            calibration = {"step": 0, "calibrated_logit_scale": scale, "calibrated_logit_bias": bias}
        if checkpoint is None and args.save_start_model and accelerator.is_main_process:
            self.model.save_pretrained(self.output_dir / "start")  # e.g. for weight-space mixing afterwards
        model, optimizer, loader, scheduler = accelerator.prepare(self.model, optimizer, loader, scheduler)

        state = {"step": 0, "epoch": 0, "batches_in_epoch": 0, "best_score": None, "elapsed": 0.0}
        if checkpoint is not None:
            accelerator.load_state(str(checkpoint))
            state = json.loads((checkpoint / STATE_FILE).read_text())
        log = (self.output_dir / "metrics.jsonl").open("a", encoding="utf-8")
        if calibration is not None:
            _write(log, calibration, accelerator)
        progress = tqdm(total=total_steps, initial=state["step"], desc="training", disable=not (args.progress and accelerator.is_main_process))
        started, window_start, window_texts, window_loss, window_batches = time.time(), time.time(), 0, 0.0, 0
        elapsed_before = state["elapsed"]
        model.train()
        try:
            while state["step"] < total_steps:
                epoch_loader = accelerator.skip_first_batches(loader, state["batches_in_epoch"]) if state["batches_in_epoch"] else loader
                _start_epoch(epoch_loader, state["epoch"])
                for batch in epoch_loader:
                    # dropout randomness from (seed, position): a resumed run replays it exactly
                    torch.manual_seed(_batch_seed(args.seed, state["epoch"], state["batches_in_epoch"]))
                    with accelerator.accumulate(model):
                        loss = model(**batch).loss
                        if not torch.isfinite(loss):
                            raise FloatingPointError(
                                f"loss is {loss.item()} at step {state['step']} (epoch {state['epoch']}); "
                                "lower the learning rate or check the data."
                            )
                        accelerator.backward(loss)
                        if accelerator.sync_gradients and args.max_grad_norm:
                            accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
                        optimizer.step()
                        scheduler.step()
                        optimizer.zero_grad()
                    state["batches_in_epoch"] += 1
                    window_texts += batch["input_ids"].shape[0]
                    window_loss += loss.item()
                    window_batches += 1
                    if not accelerator.sync_gradients:
                        continue
                    state["step"] += 1
                    state["elapsed"] = elapsed_before + time.time() - started
                    progress.update(1)
                    if state["step"] % args.logging_steps == 0 or state["step"] == total_steps:
                        now = time.time()
                        record = {
                            "step": state["step"],
                            "epoch": state["epoch"] + state["batches_in_epoch"] / max(1, len(loader)),
                            "loss": window_loss / window_batches,
                            "lr_encoder": scheduler.get_last_lr()[0],
                            "lr_heads": scheduler.get_last_lr()[-1],
                            "texts_per_second": window_texts / max(now - window_start, 1e-9),
                            "elapsed_seconds": state["elapsed"],
                        }
                        progress.set_postfix(loss=f"{record['loss']:.4f}")
                        _write(log, record, accelerator)
                        window_start, window_texts, window_loss, window_batches = now, 0, 0.0, 0
                    out_of_time = args.max_seconds is not None and state["elapsed"] >= args.max_seconds
                    finished = state["step"] >= total_steps or out_of_time
                    if self.eval_sets and ((args.eval_steps and state["step"] % args.eval_steps == 0) or finished):
                        self._evaluate(accelerator, model, state, log)
                        model.train()
                    if args.save_steps and (state["step"] % args.save_steps == 0 or finished):
                        save_checkpoint(accelerator, self.output_dir, state, args, args.keep_checkpoints, "training_args.json")
                    if finished:
                        total_steps = state["step"]
                        break
                else:
                    state["epoch"] += 1
                    state["batches_in_epoch"] = 0
        finally:
            progress.close()
            log.close()
        trained = accelerator.unwrap_model(model)
        trained.eval()
        if args.save_final_model and accelerator.is_main_process:
            trained.save_pretrained(self.output_dir / "final")
        return trained

    def _evaluate(self, accelerator: Accelerator, model: torch.nn.Module, state: dict, log: Any) -> None:
        if not accelerator.is_main_process:
            return
        unwrapped = accelerator.unwrap_model(model)
        unwrapped.eval()
        scores = {}
        with accelerator.autocast():
            for labelled in self.eval_sets:
                scores[labelled.name] = evaluate_set(unwrapped, labelled, device=accelerator.device, limit=self.args.eval_limit)
        mean_macro = sum(s["macro_f1"] for s in scores.values()) / len(scores)
        _write(log, {"step": state["step"], "eval": scores, "eval_mean_macro_f1": mean_macro}, accelerator)
        if state["best_score"] is None or mean_macro > state["best_score"]:
            state["best_score"] = mean_macro
            unwrapped.save_pretrained(self.output_dir / "best")



def parameter_groups(
    model: torch.nn.Module, backbone_prefix: str, encoder_lr: float, head_lr: float, weight_decay: float
) -> list[dict[str, Any]]:
    """AdamW groups: backbone first (so `get_last_lr()[0]` is its rate), then the heads; no decay on biases/norms."""
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        no_decay = parameter.ndim < 2 or "LayerNorm" in name or "layer_norm" in name
        groups.setdefault((name.startswith(backbone_prefix), no_decay), []).append(parameter)
    return [
        {"params": params, "lr": encoder_lr if is_encoder else head_lr, "weight_decay": 0.0 if no_decay else weight_decay}
        for (is_encoder, no_decay), params in sorted(groups.items(), key=lambda item: not item[0][0])
    ]


def save_checkpoint(accelerator: Accelerator, output_dir: Path, state: dict, args: Any, keep: int, args_file: str) -> None:
    """Write `checkpoint-STEP` atomically (a temporary folder renamed at the end), keep the last `keep`."""
    final = output_dir / f"checkpoint-{state['step']}"
    temporary = output_dir / f".tmp-checkpoint-{state['step']}"
    if accelerator.is_main_process and temporary.exists():
        shutil.rmtree(temporary)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(temporary))
    if accelerator.is_main_process:
        (temporary / STATE_FILE).write_text(json.dumps(state))
        if final.exists():
            shutil.rmtree(final)
        os.replace(temporary, final)
        for old in _checkpoints(output_dir)[:-keep]:
            shutil.rmtree(old)
        (output_dir / args_file).write_text(json.dumps(asdict(args), indent=2))
    accelerator.wait_for_everyone()


def gliclass_collator(model: GLiClassModel, max_length: int) -> Collator:
    """The collator that turns training items into padded rows for `model`'s tokenizer and label position."""
    if not isinstance(model, GLiClassModel):
        raise TypeError(f"cannot train a {type(model).__name__}: it has no collate() and is not a GLiClassModel.")
    if model.tokenizer is None:
        raise ValueError("the model has no tokenizer; load it with GLiClassModel.from_pretrained/from_backbone.")
    pad = model.tokenizer.pad_token_id if model.tokenizer.pad_token_id is not None else 0
    return Collator(PromptEncoder(model.tokenizer, model.config.prompt_first, max_length), pad)


def _mixed_precision(setting: str) -> str:
    if setting != "auto":
        return setting
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "no"


def _batch_seed(seed: int, epoch: int, batch: int) -> int:
    return (seed * 1_000_003 + epoch * 100_003 + batch) % (2**63)


def _start_epoch(loader: Any, epoch: int) -> None:
    """Tell the loader (and through it the dataset) which epoch starts.

    accelerate's prepared loaders call `dataset.set_epoch` with their own iteration count, which
    restarts at 0 for the loader that skips the batches done before a resume: setting the
    loader's epoch keeps the data plan of a resumed run identical.
    """
    if hasattr(loader, "set_epoch"):
        loader.set_epoch(epoch)
    elif hasattr(loader.dataset, "set_epoch"):
        loader.dataset.set_epoch(epoch)


def _checkpoints(folder: Path) -> list[Path]:
    found = [p for p in folder.glob("checkpoint-*") if p.is_dir() and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: int(p.name.split("-")[-1]))


def resume_checkpoint(output_dir: Path, resume: bool | str) -> Path | None:
    """The checkpoint to continue from: the latest in `output_dir` (`resume=True`), the one named,
    or None (`resume=False`). Asking to resume when there is nothing to resume is an error."""
    if not resume:
        return None
    checkpoint = _latest_checkpoint(output_dir) if resume is True else Path(resume)
    if checkpoint is None or not checkpoint.is_dir():
        where = output_dir if resume is True else resume
        raise ValueError(f"nothing to resume: no checkpoint in {where}; start without resume.")
    return checkpoint


def _latest_checkpoint(folder: Path) -> Path | None:
    found = _checkpoints(folder)
    return found[-1] if found else None


def _write(log: Any, record: dict, accelerator: Accelerator) -> None:
    if accelerator.is_main_process:
        log.write(json.dumps(record) + "\n")
        log.flush()
