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

The loop is `training.engine`'s, as for the supervised trainer: `accelerate` (CPU, GPU, mixed
precision), atomically written `checkpoint-STEP` folders, exact resume, `metrics.jsonl`, a tqdm
bar; a NaN loss stops with a `FloatingPointError`. The final model is saved into
`output_dir/final` (config, safetensors weights, tokenizer), where `gliclass.pipeline` loads it.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader

from gliclass import GLiClassModel
from gliclass.padding import pad_id_of
from gliclass.prompt import PromptEncoder

from ..engine import Run, RunArguments, Task, check_non_negative, parameter_groups
from ..trainer import fitted_length
from .episodes import Episode, EpisodeCollator, EpisodeSet
from .objective import ValueHead, label_log_probs, masked_mean, normalise_advantages, ppo_loss, row_mean, unit_mask
from .rewards import Reward, check_reward


@dataclass
class PPOArguments(RunArguments):
    """Settings of a PPO run (all have working defaults but `output_dir`; see `RunArguments`).

    A step is one rollout of `batch_size` texts with `samples_per_text` sampled label choices each
    (`include_greedy` adds the `p >= 0.5` choice), followed by up to `ppo_epochs` updates; the run
    lasts `max_steps` steps, else `epochs` passes over the episodes. `temperature` divides the
    logits of the policy; `clip_range`, `entropy_coef`, `kl_coef` (k3 KL to the starting model)
    and `target_kl` (early stop of the updates) shape the loss. `encoder_lr` / `head_lr` /
    `value_lr` are the learning rates of the backbone, the GLiClass heads and the value head.
    """

    samples_per_text: int = 32
    temperature: float = 2.0
    include_greedy: bool = False
    ppo_epochs: int = 4
    clip_range: float = 0.2
    entropy_coef: float = 0.01
    kl_coef: float = 0.05
    target_kl: float | None = 0.05
    value_lr: float = 1e-3
    # RunArguments fields with other defaults for PPO
    epochs: float = 4.0
    encoder_lr: float = 2e-5
    head_lr: float = 1e-4
    weight_decay: float = 0.0
    warmup_ratio: float = 0.0
    logging_steps: int = 10

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.samples_per_text < 1 or self.ppo_epochs < 1:
            raise ValueError("batch_size, samples_per_text and ppo_epochs must be at least 1.")
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"temperature must be a positive finite number, got {self.temperature}.")
        if not 0 < self.clip_range < 1:
            raise ValueError(f"clip_range must be in (0, 1), got {self.clip_range}.")
        if self.target_kl is not None and not (math.isfinite(self.target_kl) and self.target_kl > 0):
            raise ValueError(f"target_kl must be a positive finite number or None, got {self.target_kl}.")
        check_non_negative(self, ("entropy_coef", "kl_coef", "value_lr"))
        super().__post_init__()


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


class PPOTrainer(Task):
    """Fine-tune `model` with PPO on `episodes` scored by `reward` (see `training.ppo.rewards`).

    `train(resume=False)` runs it (see `training.engine.Task.train`); on resume, pass the same
    starting model: it is the KL reference.
    """

    args_file = "ppo_args.json"
    progress_name = "ppo"
    postfix = {"reward": ".3f", "kl": ".4f"}
    dropout = False  # the first update starts exactly at the rollout policy

    def __init__(self, model: GLiClassModel, args: PPOArguments, episodes: Sequence[Episode], reward: Reward) -> None:
        if model.tokenizer is None:
            raise ValueError("the model has no tokenizer; load it with GLiClassModel.from_pretrained/from_backbone.")
        if model.config.is_bi_encoder or model.config.pooling_strategy == "pass":
            kind = model.config.architecture_type
            if model.config.pooling_strategy == "pass":
                kind += " with token-level text (pooling_strategy='pass')"
            raise ValueError(
                f"PPO trains uni-encoder models that pool the text into one vector; this model is a {kind}. "
                "Fine-tune it from labels with training.finetune or training.train instead."
            )
        if not callable(reward):
            raise TypeError(f"reward must be callable, got {type(reward).__name__}.")
        self.model = model
        self.args = args
        self.reward = reward
        self.episodes = EpisodeSet(episodes, seed=args.seed)
        self.output_dir = Path(args.output_dir)
        self.inputs = {  # taken before training moves the weights
            "episodes_sha1": fingerprint(json.dumps([dataclasses.astuple(item) for item in self.episodes.episodes])),
            "reward": getattr(reward, "__name__", None) or repr(reward),
            "start_model_sha1": fingerprint(
                *(tensor.detach().cpu().contiguous().numpy().tobytes() for tensor in model.state_dict().values())
            ),
        }
        encoder = PromptEncoder(model.tokenizer, model.config.prompt_first, fitted_length(model, args.max_length))
        self.collator = EpisodeCollator(encoder, pad_id_of(model.tokenizer))

    def run_inputs(self) -> dict[str, Any]:
        """Fingerprints of the episodes and the starting model (the KL reference), and the reward."""
        return self.inputs

    def build(self, accelerator: Accelerator) -> tuple[DataLoader, list[torch.nn.Module], list[dict[str, Any]]]:
        """The episode loader, the model and a new value head, and their AdamW groups; freezes the KL reference."""
        args = self.args
        self.reference = copy.deepcopy(self.model).eval().requires_grad_(False).to(accelerator.device)
        value_head = ValueHead(self.model.config.encoder_config.hidden_size)
        loader = DataLoader(self.episodes, batch_size=args.batch_size, shuffle=False, collate_fn=self.collator)
        groups = parameter_groups(self.model, "model.encoder_model.", args.encoder_lr, args.head_lr, args.weight_decay)
        groups.append({"params": list(value_head.parameters()), "lr": args.value_lr, "weight_decay": 0.0})
        return loader, [self.model, value_head], groups

    def learning_rates(self, rates: list[float]) -> dict[str, float]:
        """The backbone's, the heads' and the value head's rates."""
        return {"lr_encoder": rates[0], "lr_heads": rates[-2], "lr_value": rates[-1]}

    def step(self, run: Run, batch: dict[str, Any]) -> dict[str, float]:
        """One rollout on `batch` and its PPO updates; returns the step's statistics."""
        accelerator, (model, value_head), step = run.accelerator, run.modules, run.state["step"]
        rollout = self._rollout(run, batch)
        args = self.args
        totals = dict.fromkeys(("policy_loss", "entropy", "kl", "clip_fraction", "approx_kl", "value_loss"), 0.0)
        epochs_run = 0
        for epoch in range(args.ppo_epochs):
            output = model(**rollout.inputs)
            loss = ppo_loss(
                output.logits.float()[rollout.index] / args.temperature,
                rollout.reference_logits,
                rollout.actions,
                rollout.old_log_probs,
                rollout.advantages,
                rollout.judged,
                rollout.label_mask,
                args.clip_range,
                args.entropy_coef,
                args.kl_coef,
            )
            if args.target_kl is not None and epoch > 0 and loss.approx_kl.item() > 1.5 * args.target_kl:
                break
            values = value_head(output.text_embeddings, output.label_embeddings)[rollout.index]
            predicted = values if rollout.per_label else row_mean(values, rollout.judged)
            value_loss = masked_mean((predicted - rollout.rewards) ** 2, rollout.units)
            total = loss.total + value_loss
            if not torch.isfinite(total):
                raise FloatingPointError(
                    f"the PPO loss is {total.item()} at step {step} (PPO epoch {epoch}); "
                    "lower the learning rates or check the reward."
                )
            accelerator.backward(total)
            if args.max_grad_norm:
                accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)  # unscales every gradient first
                torch.nn.utils.clip_grad_norm_(value_head.parameters(), args.max_grad_norm)
            run.optimizer.step()
            run.optimizer.zero_grad()
            epochs_run += 1
            parts = (loss.policy, loss.entropy, loss.kl, loss.clip_fraction, loss.approx_kl, value_loss)
            for key, value in zip(totals, parts):
                totals[key] += value.item()
        stats = {key: value / max(epochs_run, 1) for key, value in totals.items()}
        stats["reward"] = masked_mean(rollout.rewards, rollout.units).item()
        stats["ppo_epochs"] = float(epochs_run)
        run.scheduler.step()
        return stats

    def _rollout(self, run: Run, batch: dict[str, Any]) -> Rollout:
        """Sample `samples_per_text` label choices per row (plus the greedy one), score them, and
        compute their advantages and old log-probs."""
        args, accelerator, (model, value_head), step = self.args, run.accelerator, run.modules, run.state["step"]
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
                [batch["texts"][i] for i in index.tolist()],
                [batch["labels"][i] for i in index.tolist()],
                actions,
                probs[index],
                batch["targets"][:, :width][index],
                judged,
            ),
            len(index),
            width,
        )
        per_label = rewards.ndim == 2
        units = unit_mask(judged, per_label)
        rewards = rewards * judged if per_label else rewards
        baseline = values[index] if per_label else row_mean(values[index], judged)
        return Rollout(
            inputs=inputs,
            index=index,
            actions=actions,
            old_log_probs=label_log_probs(logits[index], actions),
            reference_logits=reference_logits[index],
            rewards=rewards,
            advantages=normalise_advantages(rewards - baseline, units),
            judged=judged,
            label_mask=label_mask[index],
            units=units,
            per_label=per_label,
        )


def fingerprint(*parts: str | bytes) -> str:
    """SHA-1 of `parts` in order (text as UTF-8)."""
    digest = hashlib.sha1()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
    return digest.hexdigest()
