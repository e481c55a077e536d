"""PPO fine-tuning of a GLiClass model from rewards: full labels, partial feedback, or any function.

Each candidate label is a Bernoulli action, `p = sigmoid(logit / temperature)` (a temperature
above 1 keeps a confident model exploring; decisions at `p >= 0.5` do not depend on it). A step
takes a batch of episodes, samples `samples_per_text` label choices per text (one forward pass:
the samples share the logits), scores them with the reward, and runs up to `ppo_epochs`
clipped-surrogate updates on them, stopping early when the policy moved more than
`1.5 * target_kl` from the rollout's. Advantages are `reward - value` (a learned `ValueHead`,
kept apart from the GLiClass weights), normalised per batch; the loss adds an entropy bonus and a
k3 KL penalty to a frozen copy of the starting model. Dropout is off, so the first update starts
exactly at the rollout's policy.

Conventions of the supervised trainer: `accelerate` (CPU, GPU, mixed precision), atomically
written `checkpoint-STEP` folders with `trainer_state.json`, exact resume, `metrics.jsonl`, a
tqdm bar, and a `FloatingPointError` on a NaN loss. The final model is saved into `output_dir`
(config, safetensors weights, tokenizer), where `gliclass.pipeline(model=output_dir)` loads it.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import get_scheduler

from gliclass import GLiClassModel
from gliclass.prompt import PromptEncoder

from .episodes import Episode, EpisodeCollator, EpisodeSet
from .ppo_objective import ValueHead, label_log_probs, masked_mean, normalise_advantages, ppo_loss, row_mean, unit_mask
from .rewards import Reward, check_reward
from .trainer import STATE_FILE, _mixed_precision, _start_epoch, parameter_groups, resume_checkpoint, save_checkpoint

ARGS_FILE = "ppo_args.json"


@dataclass
class PPOArguments:
    """Settings of a PPO run (all have working defaults but `output_dir`).

    A step is one rollout of `batch_size` texts with `samples_per_text` sampled label choices each
    (`include_greedy` adds the `p >= 0.5` choice), followed by up to `ppo_epochs` updates; the run
    lasts `max_steps` steps, else `epochs` passes over the episodes. `temperature` divides the
    logits of the policy; `clip_range`, `entropy_coef`, `kl_coef` (k3 KL to the starting model)
    and `target_kl` (early stop of the updates) shape the loss. `encoder_lr` / `head_lr` /
    `value_lr` are the learning rates of the backbone, the GLiClass heads and the value head.
    """

    output_dir: str
    epochs: float = 4.0
    max_steps: int | None = None
    batch_size: int = 16
    samples_per_text: int = 32
    temperature: float = 2.0
    include_greedy: bool = False
    ppo_epochs: int = 4
    clip_range: float = 0.2
    entropy_coef: float = 0.01
    kl_coef: float = 0.05
    target_kl: float | None = 0.05
    encoder_lr: float = 2e-5
    head_lr: float = 1e-4
    value_lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_ratio: float = 0.0
    scheduler: str = "linear"
    max_grad_norm: float = 1.0
    mixed_precision: str = "auto"
    max_length: int = 256
    logging_steps: int = 10
    save_steps: int | None = None
    keep_checkpoints: int = 2
    seed: int = 42
    max_seconds: float | None = None
    save_final_model: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.samples_per_text < 1 or self.ppo_epochs < 1:
            raise ValueError("batch_size, samples_per_text and ppo_epochs must be at least 1.")
        if self.epochs <= 0 and not self.max_steps:
            raise ValueError("set epochs > 0 or max_steps.")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}.")
        if not 0 < self.clip_range < 1:
            raise ValueError(f"clip_range must be in (0, 1), got {self.clip_range}.")
        if self.target_kl is not None and self.target_kl <= 0:
            raise ValueError(f"target_kl must be positive or None, got {self.target_kl}.")
        if min(self.entropy_coef, self.kl_coef) < 0:
            raise ValueError("entropy_coef and kl_coef must not be negative.")
        if self.mixed_precision not in ("auto", "no", "fp16", "bf16"):
            raise ValueError(f"mixed_precision must be auto, no, fp16 or bf16, got {self.mixed_precision!r}.")


@dataclass
class Rollout:
    """A scored batch of sampled label choices; `index` maps each sample to its encoder row."""

    inputs: dict[str, torch.Tensor]
    index: torch.Tensor
    actions: torch.Tensor
    old_log_probs: torch.Tensor
    reference_logits: torch.Tensor
    rewards: torch.Tensor
    advantages: torch.Tensor
    judged: torch.Tensor
    label_mask: torch.Tensor
    units: torch.Tensor
    per_label: bool


class PPOTrainer:
    """Fine-tune `model` with PPO on `episodes` scored by `reward` (see `training.rewards`)."""

    def __init__(self, model: GLiClassModel, args: PPOArguments, episodes: Sequence[Episode], reward: Reward) -> None:
        if model.tokenizer is None:
            raise ValueError("the model has no tokenizer; load it with GLiClassModel.from_pretrained/from_backbone.")
        if not callable(reward):
            raise TypeError(f"reward must be callable, got {type(reward).__name__}.")
        self.model = model
        self.args = args
        self.reward = reward
        self.episodes = EpisodeSet(episodes, seed=args.seed)
        self.output_dir = Path(args.output_dir)
        encoder = PromptEncoder(model.tokenizer, model.config.prompt_first, args.max_length)
        pad = model.tokenizer.pad_token_id if model.tokenizer.pad_token_id is not None else 0
        self.collator = EpisodeCollator(encoder, pad)

    def train(self, resume: bool | str = False) -> GLiClassModel:
        """Run PPO; `resume=True` continues from the latest checkpoint in `output_dir`.

        On resume, pass the same starting model: it is the KL reference.
        """
        args = self.args
        accelerator = Accelerator(mixed_precision=_mixed_precision(args.mixed_precision))
        set_seed(args.seed)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.reference = copy.deepcopy(self.model).eval().requires_grad_(False).to(accelerator.device)
        value_head = ValueHead(self.model.config.encoder_config.hidden_size)
        loader = DataLoader(self.episodes, batch_size=args.batch_size, shuffle=False, collate_fn=self.collator)
        total_steps = args.max_steps or math.ceil(len(loader) * args.epochs)
        groups = parameter_groups(self.model, "model.encoder_model.", args.encoder_lr, args.head_lr, args.weight_decay) + [{"params": list(value_head.parameters()), "lr": args.value_lr, "weight_decay": 0.0}]
        optimizer = torch.optim.AdamW(groups, lr=args.head_lr)
        scheduler = get_scheduler(
            args.scheduler, optimizer, num_warmup_steps=int(args.warmup_ratio * total_steps), num_training_steps=total_steps
        )
        model, value_head, optimizer, loader, scheduler = accelerator.prepare(self.model, value_head, optimizer, loader, scheduler)
        model.eval()  # no dropout: the first update starts exactly at the rollout policy

        state = {"step": 0, "epoch": 0, "batches_in_epoch": 0, "elapsed": 0.0}
        checkpoint = resume_checkpoint(self.output_dir, resume)
        if checkpoint is not None:
            accelerator.load_state(str(checkpoint))
            state = json.loads((checkpoint / STATE_FILE).read_text())
        log = (self.output_dir / "metrics.jsonl").open("a", encoding="utf-8")
        progress = tqdm(total=total_steps, initial=state["step"], desc="ppo", disable=not (args.progress and accelerator.is_main_process))
        started, elapsed_before, window = time.time(), state["elapsed"], []
        try:
            while state["step"] < total_steps:
                epoch_loader = accelerator.skip_first_batches(loader, state["batches_in_epoch"]) if state["batches_in_epoch"] else loader
                _start_epoch(epoch_loader, state["epoch"])
                for batch in epoch_loader:
                    window.append(self._step(accelerator, model, value_head, optimizer, batch, state["step"]))
                    scheduler.step()
                    state["batches_in_epoch"] += 1
                    state["step"] += 1
                    state["elapsed"] = elapsed_before + time.time() - started
                    progress.update(1)
                    if state["step"] % args.logging_steps == 0 or state["step"] == total_steps:
                        record = {key: sum(stats[key] for stats in window) / len(window) for key in window[0]}
                        record.update(step=state["step"], epoch=state["epoch"] + state["batches_in_epoch"] / len(loader))
                        record.update(lr_encoder=scheduler.get_last_lr()[0], lr_heads=scheduler.get_last_lr()[-2], lr_value=scheduler.get_last_lr()[-1], elapsed_seconds=state["elapsed"])
                        progress.set_postfix(reward=f"{record['reward']:.3f}", kl=f"{record['kl']:.4f}")
                        if accelerator.is_main_process:
                            log.write(json.dumps(record) + "\n")
                            log.flush()
                        window = []
                    out_of_time = args.max_seconds is not None and state["elapsed"] >= args.max_seconds
                    finished = state["step"] >= total_steps or out_of_time
                    if args.save_steps and (state["step"] % args.save_steps == 0 or finished):
                        save_checkpoint(accelerator, self.output_dir, state, args, args.keep_checkpoints, ARGS_FILE)
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
            trained.save_pretrained(self.output_dir)
        return trained

    def _step(
        self,
        accelerator: Accelerator,
        model: torch.nn.Module,
        value_head: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        batch: dict[str, Any],
        step: int,
    ) -> dict[str, float]:
        """One rollout on `batch` and its PPO updates; returns the step's statistics."""
        rollout = self._rollout(accelerator, model, value_head, batch, step)
        args = self.args
        totals = dict.fromkeys(("policy_loss", "entropy", "kl", "clip_fraction", "approx_kl", "value_loss"), 0.0)
        epochs_run = 0
        for epoch in range(args.ppo_epochs):
            output = model(**rollout.inputs)
            loss = ppo_loss(
                output.logits.float()[rollout.index] / args.temperature, rollout.reference_logits, rollout.actions,
                rollout.old_log_probs, rollout.advantages, rollout.judged, rollout.label_mask,
                args.clip_range, args.entropy_coef, args.kl_coef,
            )
            if args.target_kl is not None and epoch > 0 and loss.approx_kl.item() > 1.5 * args.target_kl:
                break
            values = value_head(output.text_embeddings, output.label_embeddings)[rollout.index]
            predicted = values if rollout.per_label else row_mean(values, rollout.judged)
            value_loss = masked_mean((predicted - rollout.rewards) ** 2, rollout.units)
            total = loss.total + value_loss
            if not torch.isfinite(total):
                raise FloatingPointError(
                    f"the PPO loss is {total.item()} at step {step} (PPO epoch {epoch}); lower the learning rates or check the reward."
                )
            accelerator.backward(total)
            if args.max_grad_norm:
                accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)  # unscales every gradient first
                torch.nn.utils.clip_grad_norm_(value_head.parameters(), args.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad()
            epochs_run += 1
            parts = (loss.policy, loss.entropy, loss.kl, loss.clip_fraction, loss.approx_kl, value_loss)
            for key, value in zip(totals, parts):
                totals[key] += value.item()
        stats = {key: value / max(epochs_run, 1) for key, value in totals.items()}
        stats["reward"] = masked_mean(rollout.rewards, rollout.units).item()
        stats["ppo_epochs"] = float(epochs_run)
        return stats

    def _rollout(
        self, accelerator: Accelerator, model: torch.nn.Module, value_head: torch.nn.Module, batch: dict[str, Any], step: int
    ) -> Rollout:
        """Sample `samples_per_text` label choices per row (plus the greedy one), score them, and
        compute their advantages and old log-probs."""
        args = self.args
        inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
        with torch.no_grad():
            output = model(**inputs)
            with accelerator.autocast():
                reference_logits = self.reference(**inputs).logits.float() / args.temperature
            values = value_head(output.text_embeddings, output.label_embeddings)
        logits, label_mask = output.logits.float() / args.temperature, output.label_mask
        if not torch.isfinite(logits[label_mask]).all():
            raise FloatingPointError(f"the policy's logits are not finite at step {step}; lower the learning rates.")
        rows, width = logits.shape
        judged = batch["judged"][:, :width] & label_mask
        probs = torch.sigmoid(logits)
        generator = torch.Generator().manual_seed(args.seed * 1_000_003 + step)  # the same samples after a resume
        samples = [torch.bernoulli(probs.cpu(), generator=generator) for _ in range(args.samples_per_text)]
        if args.include_greedy:
            samples.append((probs >= 0.5).float().cpu())
        index = torch.arange(rows, device=logits.device).repeat(len(samples))
        actions = torch.cat(samples).to(logits.device) * label_mask[index]
        judged = judged[index]
        rewards = check_reward(
            self.reward(
                [batch["texts"][i] for i in index.tolist()], [batch["labels"][i] for i in index.tolist()],
                actions, probs[index], batch["targets"][:, :width][index], judged,
            ),
            len(index), width,
        )
        per_label = rewards.ndim == 2
        units = unit_mask(judged, per_label)
        rewards = rewards * judged if per_label else rewards
        baseline = values[index] if per_label else row_mean(values[index], judged)
        return Rollout(
            inputs=inputs, index=index, actions=actions, old_log_probs=label_log_probs(logits[index], actions),
            reference_logits=reference_logits[index], rewards=rewards, advantages=normalise_advantages(rewards - baseline, units),
            judged=judged, label_mask=label_mask[index], units=units, per_label=per_label,
        )


