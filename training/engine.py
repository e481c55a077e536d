"""The one training loop on `accelerate`, shared by the supervised `Trainer` and the `PPOTrainer`.

A `Task` supplies the data, the modules to train and one step; `Task.train` runs everything
around it: mixed precision where the device has it, epochs or `max_steps`, a `max_seconds`
budget, a tqdm bar, a `metrics.jsonl` log, and `checkpoint-STEP` folders written atomically
(model, optimizer, scheduler, RNG states, data position, the task's own state): a run killed at
any moment and resumed ends with the same weights as an uninterrupted one. The trained model is
saved to `output_dir/final` (config, safetensors weights, tokenizer).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import get_scheduler

from gliclass.resumable_output import setting_changes

STATE_FILE = "trainer_state.json"
# settings a resumed run may change: where and how often it logs and saves, its time budget
RESUMABLE_CHANGES = (
    "output_dir",
    "logging_steps",
    "save_steps",
    "keep_checkpoints",
    "max_seconds",
    "save_final_model",
    "progress",
)
METRICS_FILE = "metrics.jsonl"
FINAL_DIR = "final"
RUN_ERRORS = (ValueError, OSError, FloatingPointError)
"""What a training command reports in one `error:` line: user mistakes, and a run that diverged
(a loss or reward that is not finite, whose message says what to lower)."""


@dataclass
class RunArguments:
    """Settings every run has (all have working defaults but `output_dir`).

    A run lasts `max_steps` optimizer steps, else `epochs` passes over the data, and stops early
    once `max_seconds` of training have passed. It logs every `logging_steps` steps and, with
    `save_steps`, checkpoints every `save_steps` steps, keeping the last `keep_checkpoints`.
    `encoder_lr` / `head_lr` are the learning rates of the backbone and of the heads.
    """

    output_dir: str
    epochs: float = 1.0
    max_steps: int | None = None
    batch_size: int = 16
    encoder_lr: float = 3e-5
    head_lr: float = 2e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.05
    scheduler: str = "linear"
    max_grad_norm: float = 1.0
    mixed_precision: str = "auto"
    max_length: int = 256
    logging_steps: int = 25
    save_steps: int | None = None
    keep_checkpoints: int = 2
    seed: int = 42
    max_seconds: float | None = None
    save_final_model: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        if self.epochs <= 0 and not self.max_steps:
            raise ValueError("set epochs > 0 or max_steps.")
        if self.mixed_precision not in ("auto", "no", "fp16", "bf16"):
            raise ValueError(f"mixed_precision must be auto, no, fp16 or bf16, got {self.mixed_precision!r}.")
        for name in ("batch_size", "logging_steps", "keep_checkpoints", "max_steps", "save_steps"):
            value = getattr(self, name)
            if value is None and name in ("max_steps", "save_steps"):
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        check_non_negative(
            self,
            ("epochs", "encoder_lr", "head_lr", "weight_decay", "warmup_ratio", "max_grad_norm", "max_seconds"),
            optional=("max_seconds",),
        )
        if self.warmup_ratio > 1:
            raise ValueError(f"warmup_ratio is a share of the run, between 0 and 1; got {self.warmup_ratio!r}.")
        if self.max_seconds == 0:
            raise ValueError("max_seconds must be more than 0 (or not set).")


def check_non_negative(arguments: Any, names: Sequence[str], optional: Sequence[str] = ()) -> None:
    """Raise `ValueError` naming the first of `names` on `arguments` that is not a finite number >= 0
    (those in `optional` may also be None)."""
    for name in names:
        value = getattr(arguments, name)
        if value is None and name in optional:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a number >= 0, got {value!r}.")


@dataclass
class Run:
    """A running loop as a task's step sees it: the prepared modules (the model first), the
    optimizer and scheduler, and the loop state (`step`, `epoch`, `batches_in_epoch`, `elapsed`)."""

    accelerator: Accelerator
    modules: list[torch.nn.Module]
    optimizer: torch.optim.Optimizer
    scheduler: Any
    state: dict[str, Any]
    log_path: Path

    @property
    def model(self) -> torch.nn.Module:
        """The prepared model being trained."""
        return self.modules[0]

    def log(self, record: dict[str, Any]) -> None:
        """Append one line to `metrics.jsonl` (main process only; the file is made by the first record,
        so a run that fails before logging leaves none)."""
        if self.accelerator.is_main_process:
            with self.log_path.open("a", encoding="utf-8") as log_file:
                log_file.write(json.dumps(record) + "\n")


class Task(ABC):
    """A kind of training: subclasses give the data, the modules and one step; `train` runs the loop."""

    args: RunArguments
    output_dir: Path
    args_file: ClassVar[str]  # the run's settings, written next to the checkpoints
    progress_name: ClassVar[str] = "training"
    postfix: ClassVar[dict[str, str]] = {}  # logged metric -> format shown on the progress bar
    dropout: ClassVar[bool] = True  # the model is in train mode during the steps
    accumulation_steps: int = 1  # batches per optimizer step

    @abstractmethod
    def build(self, accelerator: Accelerator) -> tuple[DataLoader, list[torch.nn.Module], list[dict[str, Any]]]:
        """The training loader, the modules to train (the model first) and their AdamW parameter groups."""

    @abstractmethod
    def step(self, run: Run, batch: Any) -> dict[str, float]:
        """Train on one batch (stepping the optimizer and scheduler when due); returns its metrics."""

    def before_first_step(self, accelerator: Accelerator, loader: DataLoader) -> list[dict[str, Any]]:
        """Work of a new (not resumed) run before the modules are prepared; returns records to log."""
        return []

    def after_step(self, run: Run, finished: bool) -> None:
        """Called after every optimizer step (`finished` on the last one), before any checkpoint."""

    def summarize(self, window: list[dict[str, float]], seconds: float) -> dict[str, float]:
        """The logged metrics of the batches since the last log line (`seconds` ago): their means."""
        return {key: sum(metrics[key] for metrics in window) / len(window) for key in window[0]}

    def learning_rates(self, rates: list[float]) -> dict[str, float]:
        """The logged learning rates, from the scheduler's rate of each parameter group."""
        return {"lr_encoder": rates[0], "lr_heads": rates[-1]}

    def run_inputs(self) -> dict[str, Any]:
        """What the run learns from besides its arguments (e.g. a fingerprint of its data), recorded
        with them in `args_file`; a resume must bring the same."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """The task's own state, saved in every checkpoint's `trainer_state.json`."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take the task's own state from a checkpoint's state (a new run's state has none of it)."""

    def train(self, resume: bool | str = False) -> torch.nn.Module:
        """Run training and return the trained model; `resume=True` continues from the latest
        checkpoint in `output_dir`, a path from that checkpoint."""
        args = self.args
        checkpoint = resume_checkpoint(self.output_dir, resume)  # nothing to resume: fail before any work
        if checkpoint is not None:
            check_resumed_settings(checkpoint, self.args_file, {**asdict(args), **self.run_inputs()})
        accelerator = Accelerator(
            mixed_precision=mixed_precision(args.mixed_precision), gradient_accumulation_steps=self.accumulation_steps
        )
        set_seed(args.seed)
        loader, modules, groups = self.build(accelerator)
        if len(loader) == 0:  # no step would ever be taken
            raise ValueError("the training set is empty: nothing to train on.")
        self.output_dir.mkdir(parents=True, exist_ok=True)
        total_steps = args.max_steps or math.ceil(max(1, len(loader) // self.accumulation_steps) * args.epochs)
        optimizer = torch.optim.AdamW(groups, lr=args.head_lr)
        scheduler = get_scheduler(
            args.scheduler,
            optimizer,
            num_warmup_steps=int(args.warmup_ratio * total_steps),
            num_training_steps=total_steps,
        )
        first_records = self.before_first_step(accelerator, loader) if checkpoint is None else []
        *modules, optimizer, loader, scheduler = accelerator.prepare(*modules, optimizer, loader, scheduler)
        modules[0].train(self.dropout)
        state = {"step": 0, "epoch": 0, "batches_in_epoch": 0, "elapsed": 0.0}
        if checkpoint is not None:
            accelerator.load_state(str(checkpoint))
            state = json.loads((checkpoint / STATE_FILE).read_text())
            if accelerator.is_main_process:
                keep_metrics_until(self.output_dir / METRICS_FILE, state["step"])
        self.load_state_dict(state)
        run = Run(accelerator, modules, optimizer, scheduler, state, self.output_dir / METRICS_FILE)
        for record in first_records:
            run.log(record)
        self._loop(run, loader, total_steps)
        trained = accelerator.unwrap_model(modules[0])
        trained.eval()
        if args.save_final_model and accelerator.is_main_process:
            save_final_model(trained, self.output_dir)
        return trained

    def _loop(self, run: Run, loader: DataLoader, total_steps: int) -> None:
        """Steps until `total_steps` or the time budget, logging and checkpointing on the way."""
        args, accelerator, state = self.args, run.accelerator, run.state
        show = args.progress and accelerator.is_main_process
        progress = tqdm(total=total_steps, initial=state["step"], desc=self.progress_name, disable=not show)
        started = window_start = time.time()
        elapsed_before, window = state["elapsed"], []
        try:
            while state["step"] < total_steps:
                skip = state["batches_in_epoch"]
                epoch_loader = accelerator.skip_first_batches(loader, skip) if skip else loader
                start_epoch(epoch_loader, state["epoch"])
                for batch in epoch_loader:
                    window.append(self.step(run, batch))
                    state["batches_in_epoch"] += 1
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
                            **self.summarize(window, now - window_start),
                            **self.learning_rates(run.scheduler.get_last_lr()),
                            "elapsed_seconds": state["elapsed"],
                        }
                        progress.set_postfix({key: format(record[key], spec) for key, spec in self.postfix.items()})
                        run.log(record)
                        window_start, window = now, []
                    out_of_time = args.max_seconds is not None and state["elapsed"] >= args.max_seconds
                    finished = state["step"] >= total_steps or out_of_time
                    self.after_step(run, finished)
                    if args.save_steps and (state["step"] % args.save_steps == 0 or finished):
                        task_state = {**state, **self.state_dict()}
                        inputs = self.run_inputs()
                        save_checkpoint(accelerator, self.output_dir, task_state, args, self.args_file, inputs)
                    if finished:
                        total_steps = state["step"]
                        break
                else:
                    state["epoch"] += 1
                    state["batches_in_epoch"] = 0
        finally:
            progress.close()


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
        {
            "params": params,
            "lr": encoder_lr if is_encoder else head_lr,
            "weight_decay": 0.0 if no_decay else weight_decay,
        }
        for (is_encoder, no_decay), params in sorted(groups.items(), key=lambda item: not item[0][0])
    ]


def batch_seed(seed: int, state: dict[str, Any]) -> int:
    """A seed from the run's seed and the data position: randomness seeded with it replays on resume."""
    return (seed * 1_000_003 + state["epoch"] * 100_003 + state["batches_in_epoch"]) % (2**63)


def mixed_precision(setting: str) -> str:
    """accelerate's mixed precision for a setting: `auto` is bf16 (else fp16) on CUDA, none on CPU."""
    if setting != "auto":
        return setting
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "no"


def start_epoch(loader: Any, epoch: int) -> None:
    """Tell the loader (and through it the dataset) which epoch starts.

    accelerate's prepared loaders call `dataset.set_epoch` with their own iteration count, which
    restarts at 0 for the loader that skips the batches done before a resume: setting the
    loader's epoch keeps the data plan of a resumed run identical.
    """
    if hasattr(loader, "set_epoch"):
        loader.set_epoch(epoch)
    elif hasattr(loader.dataset, "set_epoch"):
        loader.dataset.set_epoch(epoch)


def save_checkpoint(
    accelerator: Accelerator,
    output_dir: Path,
    state: dict[str, Any],
    args: RunArguments,
    args_file: str,
    inputs: dict[str, Any],
) -> None:
    """Write `checkpoint-STEP` atomically (a temporary folder renamed at the end; those a kill left are
    removed), keep the last ones; `args_file`, in the checkpoint and beside it, records `args` and the
    run's `inputs`."""
    final = output_dir / f"checkpoint-{state['step']}"
    temporary = output_dir / f".tmp-checkpoint-{state['step']}"
    if accelerator.is_main_process:  # this step's, or one a kill left at a step never saved again
        for unfinished in output_dir.glob(".tmp-checkpoint-*"):
            shutil.rmtree(unfinished)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(temporary))
    if accelerator.is_main_process:
        record = json.dumps({**asdict(args), **inputs}, indent=2)
        (temporary / STATE_FILE).write_text(json.dumps(state))
        (temporary / args_file).write_text(record)  # renamed with the checkpoint: never missing or cut
        if final.exists():
            shutil.rmtree(final)
        os.replace(temporary, final)
        for old in _checkpoints(output_dir)[: -args.keep_checkpoints]:
            shutil.rmtree(old)
        (output_dir / f".tmp-{args_file}").write_text(record)
        os.replace(output_dir / f".tmp-{args_file}", output_dir / args_file)
    accelerator.wait_for_everyone()


def save_final_model(model: Any, output_dir: Path) -> None:
    """`output_dir/final` written atomically: a run stopped while saving leaves the earlier `final`
    (or none), never a folder that looks like a model and does not load."""
    temporary = output_dir / f".tmp-{FINAL_DIR}"
    if temporary.exists():
        shutil.rmtree(temporary)
    model.save_pretrained(temporary)
    if (output_dir / FINAL_DIR).exists():
        shutil.rmtree(output_dir / FINAL_DIR)
    os.replace(temporary, output_dir / FINAL_DIR)


def keep_metrics_until(path: Path, step: int) -> None:
    """Cut a resumed run's log back to its checkpoint's `step`: the steps logged after it (and a line
    cut by the kill) are trained and logged again, and would otherwise appear twice."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and record.get("step", 0) <= step:
            kept.append(line + "\n")
    temporary = path.with_name(f".tmp-{path.name}")
    temporary.write_text("".join(kept), encoding="utf-8")
    os.replace(temporary, path)


def resume_checkpoint(output_dir: Path, resume: bool | str) -> Path | None:
    """The checkpoint to continue from: the latest in `output_dir` (`resume=True`), the one named,
    or None (`resume=False`). Asking to resume when there is nothing to resume is an error, and so is
    a new run in a folder that holds another run's checkpoints or log (they would be mixed), or an
    `output_dir` that is a file."""
    if output_dir.exists() and not output_dir.is_dir():
        raise ValueError(f"{output_dir} is a file; the output is a folder (final/, checkpoints, metrics.jsonl).")
    if not resume:
        checkpoints = _checkpoints(output_dir)[-1:]
        earlier = [
            path.name for path in (*checkpoints, output_dir / METRICS_FILE, output_dir / FINAL_DIR) if path.exists()
        ]
        if earlier:
            way_out = (
                "resume it (--resume) or choose another output folder"
                if checkpoints
                else "it saved no checkpoint to resume from (save_steps), so delete it or choose another output folder"
            )
            raise ValueError(f"{output_dir} holds another run ({', '.join(earlier)}): {way_out}.")
        return None
    found = _checkpoints(output_dir)
    checkpoint = (found[-1] if found else None) if resume is True else Path(resume)
    if checkpoint is None or not checkpoint.is_dir():
        where = output_dir if resume is True else resume
        if resume is True and (output_dir / METRICS_FILE).exists():
            raise ValueError(
                f"nothing to resume: the run in {output_dir} saved no checkpoint (save_steps); "
                "delete it or choose another output folder, and start without resume."
            )
        raise ValueError(f"nothing to resume: no checkpoint in {where}; start without resume.")
    return checkpoint


def check_resumed_settings(checkpoint: Path, args_file: str, settings: dict[str, Any]) -> None:
    """A resumed run keeps the settings that shape its training (`RESUMABLE_CHANGES` may change):
    another batch size, length, learning rate or data would replay the data and schedule wrongly.
    They are read from the checkpoint's `args_file` (runs saved before it held one: the one beside it)."""
    saved = checkpoint / args_file if (checkpoint / args_file).is_file() else checkpoint.parent / args_file
    if not saved.is_file():
        raise ValueError(f"{saved} is missing: the settings of the run to resume are unknown; start a new run.")
    try:
        recorded = json.loads(saved.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        recorded = None
    if not isinstance(recorded, dict):
        raise ValueError(f"{saved} is not a settings record (cut or edited); start a new run.")
    current = json.loads(json.dumps(settings))  # as it was recorded (tuples as lists)
    changed = setting_changes(recorded, current, RESUMABLE_CHANGES)
    if changed:
        raise ValueError(
            f"the run in {checkpoint.parent} was made with other settings ({', '.join(changed)}); resume it with "
            "its own, or start a new run in another folder."
        )


def _checkpoints(folder: Path) -> list[Path]:
    found = [p for p in folder.glob("checkpoint-*") if p.is_dir() and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: int(p.name.split("-")[-1]))
