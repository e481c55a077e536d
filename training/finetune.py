"""One-call few-shot fine-tuning that falls back to the start model when it does not help.

`finetune(model, examples, labels=...)` holds out part of the examples (stratified folds) to
choose how long to train and how far to move from the start weights (a WiSE-FT mix
`start + alpha * (tuned - start)`, alpha 0 being the start model itself), then trains on all
examples with that choice. What was chosen, and the held-out scores it was chosen on, is in the
returned model's `finetune_report` ([`FinetuneReport`]).
"""

from __future__ import annotations

import copy
import math
import random
import tempfile
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gliclass import GLiClassModel, ZeroShotMultilabelPipeline
from gliclass.checkpoint import check_save_folder
from gliclass.evaluation import metrics_from_scores
from gliclass.options import examples_label_set
from gliclass.prompt import labelled_examples

from .batches import FixedCandidatesSet
from .engine import Run
from .trainer import Trainer, TrainingArguments
from .weight_mixing import mixed

EPOCH_FRACTIONS = (0.25, 0.5, 0.75, 1.0)  # of `epochs`: the training lengths compared on held-out examples
MIN_HELD_OUT = 128  # folds are added until this many examples were held out (or every fold was)
CALIBRATION_BATCHES = 8
START = (0.0, 0.0)  # the (epochs, alpha) candidate that is the start model itself
EPOCHS, ENCODER_LR, HEAD_LR = 10, 2e-5, 1e-4  # finetune's defaults


@dataclass
class FinetuneReport:
    """What `finetune` chose: train `epochs` epochs, keep `alpha` of the change (0: the start model).

    `held_out` examples (over `folds` folds) were scored by each candidate `(epochs, alpha)`;
    `scores` maps each to its held-out macro-F1 (`start_score` is the start model's, `score` the
    chosen one's) and `losses` to its held-out loss (mean binary cross-entropy of its scores), by
    which it was chosen. `folds` is 0 when nothing was held out (`select=False` or too few examples).
    `trained_on`: the examples the returned model was trained on (0 for the start model).
    """

    epochs: float
    alpha: float
    trained_on: int = 0
    folds: int = 0
    held_out: int = 0
    start_score: float | None = None
    score: float | None = None
    scores: dict[tuple[float, float], float] = field(default_factory=dict)
    losses: dict[tuple[float, float], float] = field(default_factory=dict)
    seconds: float = 0.0


def finetune(
    model: GLiClassModel | ZeroShotMultilabelPipeline | str | Path,
    examples: Iterable[dict[str, Any]],
    labels: Sequence[str] | None = None,
    epochs: float = EPOCHS,
    seed: int = 42,
    batch_size: int | None = None,
    encoder_lr: float = ENCODER_LR,
    head_lr: float = HEAD_LR,
    output_dir: str | Path | None = None,
    select: bool = True,
    alphas: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
    folds: int = 4,
    **training_options: Any,
) -> GLiClassModel:
    """Fine-tune a copy of `model` on a few `{"text", "labels": [...]}` examples and return it.

    Every example is shown with all candidate `labels` (default: every label in the examples), in
    a different order each epoch; models that encode labels apart encode each label once per batch.
    Where the model has a logit bias and normalised vectors, its score scale and bias are first
    fitted to the examples (`training.calibration`).

    With `select=True`, stratified `folds` (added until 128 examples are held out, or all were)
    choose the training length among `EPOCH_FRACTIONS` of `epochs` and the mix `alpha` among
    `alphas`: the lowest held-out loss (binary cross-entropy of the scores, which a handful of
    examples measures less noisily than macro-F1) among the candidates whose held-out macro-F1 is at
    least the start model's, ties going to the smaller change; when none beats the start model's
    loss, the start model is returned. The result goes straight into
    `gliclass.pipeline(model=...)`; `result.finetune_report` says what was chosen. With
    `output_dir`, the final model is also saved there. `training_options` go to `TrainingArguments`.

    With one held-out split (many examples), the model trained on the rest is kept, not retrained on
    all. `batch_size` defaults to 8, or 32 where labels are encoded apart and there are more than
    16 (each batch encodes every candidate label once, so larger batches share that cost).

    `model` may also be a pipeline (its model is used) or a path / hub id. The `label_biases` that
    `gliclass.calibrate` fitted to the start model's scores are not carried over (a warning says so).
    Copies of one text are held out together.
    """
    started = time.time()
    if isinstance(model, ZeroShotMultilabelPipeline):
        model = model.model
    if isinstance(model, (str, Path)):
        model = GLiClassModel.from_pretrained(model)
    if not isinstance(model, GLiClassModel):
        raise TypeError(f"model must be a GLiClassModel, its pipeline or a path, got {type(model).__name__}.")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an integer, got {seed!r}.")
    if output_dir is not None:
        check_save_folder(output_dir)  # now, not after the training it would save
    if model.config.label_biases:
        warnings.warn(
            "finetune does not keep the label_biases fitted by gliclass.calibrate (they fit the start model's "
            "scores); calibrate the fine-tuned model again if you need them.",
            stacklevel=2,
        )
    checked = labelled_examples(examples)
    texts, targets = [text for text, _ in checked], [labels for _, labels in checked]
    candidates, descriptions = examples_label_set(labels, targets)  # a list, or "a, b, c" as the pipeline takes it
    if descriptions:
        raise ValueError("finetune trains on label names, without descriptions: give labels= as a list of names.")
    if not isinstance(alphas, (list, tuple)) or not alphas or not all(_is_share(alpha) for alpha in alphas):
        raise ValueError(f"alphas must be a list of numbers in [0, 1], got {alphas!r}.")
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise ValueError(f"folds must be an integer of at least 2, got {folds!r}.")
    settings = dict(
        epochs=epochs,
        seed=seed,
        batch_size=default_batch_size(model, candidates) if batch_size is None else batch_size,
        encoder_lr=encoder_lr,
        head_lr=head_lr,
        **training_options,
    )
    TrainingArguments(output_dir="unused", **settings)  # a bad number is an error now, not after the folds
    start = copy.deepcopy(model).eval()  # the caller's model keeps its mode and config
    start.config.label_biases = {}
    report, tuned = FinetuneReport(epochs=epochs, alpha=1.0, trained_on=len(texts)), None
    splits = held_out_splits(texts, targets, folds, seed) if select else []
    if splits:
        report, tuned = _select(start, texts, targets, candidates, splits, tuple(alphas), settings)
    if report.alpha == 0:
        tuned = start
    elif tuned is None:
        train_set = FixedCandidatesSet(texts, targets, candidates, shuffle_seed=seed)
        trained = train_model(copy.deepcopy(start), train_set, {**settings, "epochs": report.epochs})
        tuned = trained if report.alpha == 1 else mixed(start, trained, report.alpha)
    if output_dir is not None:
        tuned.save_pretrained(output_dir)
    report.seconds = time.time() - started
    tuned.finetune_report = report
    return tuned.eval()


def _is_share(value: Any) -> bool:
    """Whether `value` is a number in [0, 1] (not a bool)."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) and 0 <= value <= 1


def held_out_splits(texts: Sequence[str], targets: Sequence[Sequence[str]], folds: int, seed: int) -> list[list[int]]:
    """Held-out index lists: stratified folds (by first label; copies of a text in one fold), as many
    as it takes to hold out `MIN_HELD_OUT` examples; none when fewer than two examples could be held out."""
    rng = random.Random(f"{seed}-folds")
    copies: dict[str, list[int]] = {}
    for index, text in enumerate(texts):
        copies.setdefault(text, []).append(index)
    by_label: dict[str, list[list[int]]] = {}
    for group in copies.values():
        first = targets[group[0]]
        by_label.setdefault(first[0] if first else "", []).append(group)
    assignment: list[list[int]] = [[] for _ in range(folds)]
    offset = 0
    for groups in by_label.values():
        rng.shuffle(groups)
        for position, group in enumerate(groups):
            assignment[(offset + position) % folds].extend(group)
        offset += len(groups)  # small label groups do not all start in fold 0
    splits, held = [], 0
    for fold in assignment:
        if not fold or len(fold) == len(targets):
            continue
        splits.append(sorted(fold))
        held += len(fold)
        if held >= MIN_HELD_OUT:
            break
    return splits if held >= 2 else []


def _select(
    start: GLiClassModel,
    texts: list[str],
    targets: list[list[str]],
    candidates: list[str],
    splits: list[list[int]],
    alphas: tuple[float, ...],
    settings: dict[str, Any],
) -> tuple[FinetuneReport, GLiClassModel | None]:
    """Train on each split's rest, score its held-out examples at every (epochs, alpha), pick the best
    (lowest held-out loss without a lower held-out macro-F1 than the start model).

    With a single split, the chosen model trained on the rest comes back too (else None: retrain on all)."""
    held = [index for split in splits for index in split]
    tables, kept = held_out_tables(start, texts, targets, candidates, splits, alphas, settings)
    multi_label = any(len(example_targets) != 1 for example_targets in targets)
    scores, losses = held_out_metrics(tables, candidates, [targets[index] for index in held], multi_label)
    best = chosen_candidate(scores, losses)
    report = FinetuneReport(
        epochs=best[0],
        alpha=best[1],
        trained_on=len(texts) if best[1] else 0,
        folds=len(splits),
        held_out=len(held),
        start_score=scores[START],
        score=scores[best],
        scores=scores,
        losses=losses,
    )
    if len(splits) == 1 and best[1] > 0:
        report.trained_on = len(texts) - len(held)
        return report, mixed(start, kept[best[0]], best[1])
    return report, None


def default_batch_size(model: GLiClassModel, labels: Sequence[str]) -> int:
    """8, or 32 where labels are encoded apart and there are more than 16 (larger batches share the
    label pass)."""
    return 32 if model.encodes_labels_apart and len(labels) > 16 else 8


def held_out_tables(
    start: GLiClassModel,
    texts: list[str],
    targets: list[list[str]],
    candidates: list[str],
    splits: list[list[int]],
    alphas: tuple[float, ...],
    settings: dict[str, Any],
) -> tuple[dict[tuple[float, float], torch.Tensor], dict[float, GLiClassModel]]:
    """Train on each split's rest and score its held-out texts at every `(epochs, alpha)` (`START`:
    the start model), rows in split order. With a single split, its models at every probe come back
    too (by epochs trained); else no models."""
    tables: dict[tuple[float, float], torch.Tensor] = {}
    kept: dict[float, GLiClassModel] = {}
    for split in splits:
        held_set = set(split)
        rest = [index for index in range(len(texts)) if index not in held_set]
        probe = probed_training(
            start,
            [texts[index] for index in rest],
            [targets[index] for index in rest],
            candidates,
            [texts[index] for index in split],
            alphas,
            settings,
            keep=len(splits) == 1,
        )
        kept = probe.kept
        for key, table in probe.tables.items():
            tables[key] = torch.cat([tables[key], table]) if key in tables else table
    tables[START] = score_table(start, [texts[index] for split in splits for index in split], candidates)
    return tables, kept


def probed_training(
    start: GLiClassModel,
    texts: list[str],
    targets: list[list[str]],
    candidates: list[str],
    probe_texts: list[str],
    alphas: tuple[float, ...],
    settings: dict[str, Any],
    keep: bool = False,
) -> HeldOutProbe:
    """Train a copy of `start` on the examples; the returned probe holds the scores of `probe_texts`
    at every `(epochs, alpha)` (and, with `keep`, the model at every probe)."""
    probe = HeldOutProbe(start, probe_texts, candidates, alphas, keep=keep)
    train_set = FixedCandidatesSet(texts, targets, candidates, settings["seed"])
    train_model(copy.deepcopy(start), train_set, settings, probe=probe)
    return probe


def held_out_metrics(
    tables: dict[tuple[float, float], torch.Tensor], labels: list[str], gold: list[list[str]], multi_label: bool
) -> tuple[dict[tuple[float, float], float], dict[tuple[float, float], float]]:
    """Each candidate's macro-F1 and loss (mean binary cross-entropy of its scores) on held-out
    examples, from its `(texts, labels)` score table."""
    truth = torch.tensor([[label in example_targets for label in labels] for example_targets in gold]).float()
    scores, losses = {}, {}
    for key, table in tables.items():
        scores[key] = metrics_from_scores(table, labels, gold, multi_label)["macro_f1"]
        losses[key] = torch.nn.functional.binary_cross_entropy(table.float().clamp(1e-6, 1 - 1e-6), truth).item()
    return scores, losses


def chosen_candidate(
    scores: dict[tuple[float, float], float], losses: dict[tuple[float, float], float]
) -> tuple[float, float]:
    """The `(epochs, alpha)` with the lowest held-out loss among those whose macro-F1 is at least the
    start model's (`START`), ties going to the smaller change; `START` when none has a lower loss.

    Loss, not macro-F1, ranks them: on a handful of held-out examples macro-F1 moves in large steps
    and ties often, and choosing by it picked worse models on split B of `train/` sets."""
    best = START
    for key in sorted(scores, key=lambda key: (key[1], key[0])):
        if scores[key] >= scores[START] and losses[key] < losses[best]:
            best = key
    return best


class HeldOutProbe:
    """Scores held-out texts with WiSE-FT mixes of a model being trained, at chosen steps."""

    def __init__(
        self, start: GLiClassModel, texts: list[str], labels: list[str], alphas: tuple[float, ...], keep: bool = False
    ) -> None:
        self.start = start
        self.keep = keep
        self.kept: dict[float, GLiClassModel] = {}  # with `keep`: the model at every probe, by epochs trained
        self.texts = texts
        self.labels = labels
        self.alphas = [alpha for alpha in alphas if alpha > 0]
        self.steps: dict[int, list[float]] = {}  # step -> the candidate training lengths it stands for
        self.tables: dict[tuple[float, float], torch.Tensor] = {}

    def plan(self, epochs: float, steps_per_epoch: int) -> None:
        """Probe after each `EPOCH_FRACTIONS` share of `epochs`. With few steps, two shares can round
        to the same step: that step then stands for both, so every fold fills every candidate."""
        for fraction in EPOCH_FRACTIONS:
            trained_epochs = epochs * fraction
            self.steps.setdefault(max(1, round(trained_epochs * steps_per_epoch)), []).append(trained_epochs)

    def __call__(self, model: GLiClassModel, step: int) -> None:
        if step not in self.steps:
            return
        device = next(model.parameters()).device
        if next(self.start.parameters()).device != device:
            self.start = copy.deepcopy(self.start).to(device)
        lengths = self.steps[step]
        for alpha in self.alphas:
            table = score_table(mixed(self.start, model, alpha), self.texts, self.labels)
            self.tables.update({(length, alpha): table for length in lengths})
        if self.keep:
            kept = copy.deepcopy(model)
            self.kept.update({length: kept for length in lengths})


class _ProbedTrainer(Trainer):
    """A `Trainer` that calls a `HeldOutProbe` after every optimizer step."""

    def __init__(self, *args: Any, probe: HeldOutProbe, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.probe = probe

    def after_step(self, run: Run, finished: bool) -> None:
        model = run.accelerator.unwrap_model(run.model)
        was_training = model.training
        model.eval()
        self.probe(model, run.state["step"])
        model.train(was_training)


def train_model(
    model: GLiClassModel,
    train_set: FixedCandidatesSet,
    settings: dict[str, Any],
    probe: HeldOutProbe | None = None,
) -> GLiClassModel:
    """Train `model`; with a probe, it scores held-out texts along the way."""
    options = dict(settings)
    options.setdefault("warmup_ratio", 0.1)
    if "calibrate_batches" not in options and model.model.logit_bias is not None and model.config.normalize_features:
        options["calibrate_batches"] = min(CALIBRATION_BATCHES, math.ceil(len(train_set) / options["batch_size"]))
    with tempfile.TemporaryDirectory() as scratch:
        args = TrainingArguments(output_dir=scratch, save_final_model=False, **options)
        if probe is None:
            trainer = Trainer(model, args, train_set)
        else:
            probe.plan(args.epochs, math.ceil(len(train_set) / args.batch_size))
            trainer = _ProbedTrainer(model, args, train_set, probe=probe)
        return trainer.train()


def score_table(model: GLiClassModel, texts: list[str], labels: list[str]) -> torch.Tensor:
    """`(texts, labels)` scores of `model`, as its pipeline gives them."""
    pipeline = ZeroShotMultilabelPipeline(model=model, device=next(model.parameters()).device)
    return pipeline.score_texts(texts, candidate_labels=labels).cpu()
