"""Fit the shipped model's `score_calibration` on held-out splits of `train/`, report on them and on `eval/`.

    python -m training.fit_score_calibration                  # fit, report, write gliclass/default_model/config.json
    python -m training.fit_score_calibration --dry-run        # fit and report only

Every text of a training set falls in split A (fit: 20% of texts, by a hash of the text), B (choose
the positive-class weight, report: 10%), C (report only: 10%) or none. Each text is scored against
its set's whole label list (2 to 156 labels: the calibration must work whatever the label count). The
four coefficients (`gliclass.calibration`) are fitted by weighted logistic regression on A (every
single-label set weighs the same, a multi-label set `--multi-label-weights` times that) for each pair
of positive weight (`--pos-weights`) and multi-label weight; the pair with the best mean macro-F1 at
0.5 on B is kept. C and the `eval/` sets are never used to choose anything: they are only reported.
The report adds one-label calls ("is it X?"): each text asked about its true label or one wrong one,
alone and beside the contrast label "other" (for a model that encodes labels with the text, "other"
is scored alone and the figures are an approximation).
The shipped model saw at most a few percent of the `train/` texts during its 400 training steps
(12,800 sampled rows of ~110,000 texts), so A, B and C are nearly, not strictly, unseen; `eval/` is
strictly unseen.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from gliclass import DEFAULT_MODEL_DIR, GLiClassModel, pipeline
from gliclass.calibration import calibrated_logits, recentre
from gliclass.cli import run_command
from gliclass.data import LabelledSet, eval_sets, load_set

from .export import evaluate_exported
from .model_card import write_card
from .recipe import config_data_dir

TRAIN_SETS = ("clinc150", "debian-packages", "hate_offensive", "imdb", "nlupp_banking", "reuters21578")
LONG_TEXT_SETS = ("debian-packages", "imdb", "reuters21578")  # fewer texts: they cost most to encode
CONTRAST_LABEL = "other"  # asked beside one label: "is it X, or other?"


@dataclass
class ScoredSet:
    """One set's logits `(texts, labels)` before `score_calibration`, and its true labels."""

    name: str
    logits: torch.Tensor
    truth: torch.Tensor
    multi_label: bool
    contrast: torch.Tensor  # `(texts,)`: each text's logit of `CONTRAST_LABEL`, not one of the set's labels


def split_of(text: str) -> str | None:
    """'A' (fit), 'B' (choose and report), 'C' (report only) or None, from a hash of the text."""
    bucket = int(hashlib.sha1(text.encode()).hexdigest(), 16) % 10
    return "A" if bucket < 2 else "B" if bucket == 2 else "C" if bucket == 3 else None


def score_set(pipe, labelled: LabelledSet, name: str, limit: int, seed: int = 0) -> ScoredSet:
    """Logits of a seeded sample of at most `limit` texts of `labelled` against all its labels."""
    examples = labelled.examples
    if len(examples) > limit:
        examples = random.Random(seed).sample(examples, limit)
    if CONTRAST_LABEL in labelled.labels:
        raise ValueError(f"{name} has a label {CONTRAST_LABEL!r}; the one-label report adds it as a contrast.")
    texts = [example.text for example in examples]
    apart = pipe.label_cache is not None  # a label's logit is then the same whatever the other candidates
    logits = _logits(pipe, texts, [*labelled.labels, CONTRAST_LABEL] if apart else labelled.labels)
    contrast = logits[:, -1] if apart else _logits(pipe, texts, [CONTRAST_LABEL])[:, 0]
    truth = torch.tensor([[label in example.true_labels for label in labelled.labels] for example in examples])
    return ScoredSet(name, logits[:, : len(labelled.labels)], truth, labelled.multi_label, contrast)


def _logits(pipe, texts: list[str], labels: list[str]) -> torch.Tensor:
    return torch.logit(pipe.score_texts(texts, labels).double(), eps=1e-7).float()


def features(logits: torch.Tensor) -> torch.Tensor:
    """`(texts, labels, 3)`: the logit, its log-softmax over the labels, log(label count)."""
    log_count = torch.full_like(logits, math.log(logits.shape[1]))
    return torch.stack([logits, torch.log_softmax(logits, dim=1), log_count], dim=-1)


def fit(sets: list[ScoredSet], pos_weight: float, multi_label_weight: float = 1.0) -> dict[str, float]:
    """Coefficients minimising BCE over `sets` (each single-label set weighs the same, each multi-label
    set `multi_label_weight` times that; positives by `pos_weight`)."""
    inputs, targets, weights = [], [], []
    for scored in sets:
        inputs.append(features(scored.logits).reshape(-1, 3))
        targets.append(scored.truth.reshape(-1).float())
        set_weight = multi_label_weight if scored.multi_label else 1.0
        weights.append(torch.full((scored.truth.numel(),), set_weight / scored.truth.numel()))
    x, y, w = torch.cat(inputs), torch.cat(targets), torch.cat(weights)
    coefficients = torch.tensor([1.0, 0.0, 0.0], requires_grad=True)
    bias = torch.zeros((), requires_grad=True)
    optimizer = torch.optim.LBFGS([coefficients, bias], max_iter=500, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        optimizer.zero_grad()
        per_pair = torch.nn.functional.binary_cross_entropy_with_logits(
            x @ coefficients + bias, y, pos_weight=torch.tensor(pos_weight), reduction="none"
        )
        value = (w * per_pair).sum() / len(sets)
        value.backward()
        return value

    optimizer.step(loss)
    scale, log_softmax, log_num_labels = coefficients.tolist()
    return {"scale": scale, "log_softmax": log_softmax, "log_num_labels": log_num_labels, "bias": bias.item()}


def apply(logits: torch.Tensor, coefficients: dict[str, float] | None) -> torch.Tensor:
    """The shipped decision logits of `logits` with these coefficients (None: unchanged)."""
    if coefficients is None:
        return logits
    return calibrated_logits(logits, torch.ones_like(logits, dtype=torch.bool), coefficients)


def macro_f1(predicted: torch.Tensor, truth: torch.Tensor) -> float:
    """Macro-F1 over the labels present in `truth`."""
    true_positive = (predicted & truth).sum(0).float()
    f1 = 2 * true_positive / (predicted.sum(0) + truth.sum(0)).clamp(min=1).float()
    return f1[truth.any(0)].mean().item()


def top_k_with_true_count(logits: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Each text's k best labels, k its true label count (at least 1): the decision 0.5 is compared with."""
    ranks = logits.argsort(dim=1, descending=True).argsort(dim=1)
    return ranks < truth.sum(1, keepdim=True).clamp(min=1)


def report(scored: ScoredSet, coefficients: dict[str, float] | None, transductive: bool = False) -> dict[str, float]:
    """Macro-F1 at 0.5 and with the top-k decision, the share of true labels scoring >= 0.5, and the
    macro-F1 of the top label; `transductive`: after re-centring the labels over all the set's texts."""
    logits = apply(scored.logits, coefficients)
    if transductive:
        labels = [str(column) for column in range(logits.shape[1])]
        logits = torch.stack(recentre(list(logits), [labels] * len(logits)))
    at_half = macro_f1(logits >= 0, scored.truth)
    top_k = macro_f1(top_k_with_true_count(logits, scored.truth), scored.truth)
    top_one = torch.zeros_like(scored.truth).scatter_(1, logits.argmax(1, keepdim=True), True)
    return {
        "f1_at_0.5": at_half,
        "f1_top_k": top_k,
        "ratio": at_half / top_k if top_k else 0.0,
        "true_at_0.5": ((logits >= 0) & scored.truth).sum().item() / max(1, scored.truth.sum().item()),
        "f1_top_label": macro_f1(top_one, scored.truth),
        **one_label_calls(scored, coefficients),
    }


def one_label_calls(scored: ScoredSet, coefficients: dict[str, float] | None) -> dict[str, float]:
    """Each text asked about one label: the share of texts whose true label then scores >= 0.5, and
    the share whose wrong label (one drawn per text, seeded) does, asked alone and asked beside
    `CONTRAST_LABEL`. Every fitted list holds a true label; an "is it X?" check need not."""
    generator = torch.Generator().manual_seed(0)
    shares = {}
    for name, wanted in (("true", scored.truth), ("wrong", ~scored.truth)):
        asked = wanted.any(1)
        picked = torch.multinomial(wanted[asked].float(), 1, generator=generator) if asked.any() else None
        label = scored.logits[asked].gather(1, picked) if picked is not None else torch.zeros(0, 1)
        alone = apply(label, coefficients)[:, 0]
        with_contrast = apply(torch.cat([label, scored.contrast[asked, None]], 1), coefficients)[:, 0]
        for form, logits in (("alone", alone), ("with_other", with_contrast)):
            shares[f"one_label_{form}_{name}_at_0.5"] = (logits >= 0).float().mean().item() if len(logits) else 0.0
    return shares


def positive_numbers(text: str) -> list[float]:
    """`"1,2.5,3"` as numbers, each above 0 (an argparse type)."""
    try:
        numbers = [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not all(math.isfinite(number) and number > 0 for number in numbers):
        raise argparse.ArgumentTypeError(f"every weight must be a number above 0, got {text!r}")
    return numbers


def main(argv: list[str] | None = None) -> None:
    """Fit on split A, choose the positive and multi-label weights on B, report on B, C and eval, write the config."""
    parser = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--data-dir", type=Path, default=None, help="default: $GLICLASS_DATA_DIR or ../shared/data")
    parser.add_argument(
        "--pos-weights", type=positive_numbers, default="1,2,3", help="positive-class weights to choose from"
    )
    parser.add_argument(
        "--multi-label-weights",
        type=positive_numbers,
        default="1",
        help="weights of a multi-label set in the fit, to choose from",
    )
    parser.add_argument("--eval-limit", type=int, default=1000, help="texts per eval set (seeded sample)")
    parser.add_argument("--out", type=Path, default=None, help="JSON with every number (default: none)")
    parser.add_argument("--dry-run", action="store_true", help="do not write the model's config")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    data_dir = args.data_dir or config_data_dir({})
    model = GLiClassModel.from_pretrained(args.model)
    model.config.score_calibration, model.config.label_biases = None, {}  # score the uncalibrated logits
    pipe = pipeline(model=model, dtype="float32")
    splits: dict[str, list[ScoredSet]] = {"A": [], "B": [], "C": []}
    for name in TRAIN_SETS:
        labelled = load_set(data_dir / "train" / name)
        for split, limit in (("A", 600), ("B", 400), ("C", 400)):
            part = [example for example in labelled.examples if split_of(example.text) == split]
            subset = LabelledSet(name, part, labelled.labels, labelled.multi_label)
            splits[split].append(score_set(pipe, subset, name, limit // (3 if name in LONG_TEXT_SETS else 1)))
            print(f"scored {name} split {split}", flush=True)
    held_out = [score_set(pipe, labelled, labelled.name, args.eval_limit) for labelled in eval_sets(data_dir / "eval")]
    candidates = {
        (pos_weight, multi_label_weight): fit(splits["A"], pos_weight, multi_label_weight)
        for pos_weight in args.pos_weights
        for multi_label_weight in args.multi_label_weights
    }
    mean_b = {
        weights: sum(report(scored, coefficients)["f1_at_0.5"] for scored in splits["B"]) / len(splits["B"])
        for weights, coefficients in candidates.items()
    }
    chosen = max(mean_b, key=mean_b.get)
    coefficients = candidates[chosen]
    for (pos_weight, multi_label_weight), mean in mean_b.items():
        print(f"positive weight {pos_weight}, multi-label weight {multi_label_weight}: mean F1 at 0.5 on B {mean:.4f}")
    print(f"chosen positive weight {chosen[0]}, multi-label weight {chosen[1]}: {coefficients}")
    rows = {}
    print(
        "| set | split | multi-label | F1@0.5 before | F1@0.5 after | top-k F1 | ratio before | ratio after | "
        "true labels >= 0.5 before | after | transductive: F1@0.5 | top-label F1 plain | transductive | "
        "one label alone >= 0.5: true | wrong | one label beside 'other' >= 0.5: true | wrong |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for split, sets in (
        ("B (chose weight)", splits["B"]),
        ("C (untouched)", splits["C"]),
        ("eval (untouched)", held_out),
    ):
        for scored in sets:
            before, after = report(scored, None), report(scored, coefficients)
            moved = report(scored, coefficients, transductive=True)
            rows[f"{scored.name}/{split}"] = {
                "before": before,
                "after": after,
                "after_transductive": moved,
                "multi_label": scored.multi_label,
            }
            print(
                f"| {scored.name} | {split} | {'yes' if scored.multi_label else 'no'} | {before['f1_at_0.5']:.3f} | "
                f"{after['f1_at_0.5']:.3f} | {after['f1_top_k']:.3f} | {before['ratio']:.2f} | {after['ratio']:.2f} | "
                f"{before['true_at_0.5']:.2f} | {after['true_at_0.5']:.2f} | {moved['f1_at_0.5']:.3f} | "
                f"{after['f1_top_label']:.3f} | {moved['f1_top_label']:.3f} | "
                f"{after['one_label_alone_true_at_0.5']:.2f} | {after['one_label_alone_wrong_at_0.5']:.2f} | "
                f"{after['one_label_with_other_true_at_0.5']:.2f} | {after['one_label_with_other_wrong_at_0.5']:.2f} |"
            )
    if args.out:
        args.out.write_text(
            json.dumps(
                {"coefficients": coefficients, "pos_weight": chosen[0], "multi_label_weight": chosen[1], "sets": rows},
                indent=1,
            )
        )
    if not args.dry_run:
        config_path = args.model / "config.json"
        config = json.loads(config_path.read_text())
        config["score_calibration"] = coefficients
        config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        print(f"wrote score_calibration to {config_path}")
        record = {
            "pos_weight": chosen[0],
            "multi_label_weight": chosen[1],
            "mean_f1_at_0.5_split_b_by_weights": {f"{pos} {multi}": mean for (pos, multi), mean in mean_b.items()},
            "sets": rows,
        }
        refresh_metrics_and_card(args.model, data_dir, record)


def refresh_metrics_and_card(folder: Path, data_dir: Path, record: dict) -> None:
    """Re-score the calibrated model on every eval set (metrics.json keeps how it was trained) and
    rewrite its card."""
    metrics_path = folder / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    metrics.update(evaluate_exported(folder, data_dir / "eval", metrics["threshold"]))
    metrics["score_calibration"] = record
    metrics_path.write_text(json.dumps(metrics, indent=2) + "\n")
    print(
        f"re-evaluated: mean macro-F1 (single-label sets) {metrics['mean_macro_f1_single_label']:.3f}; {metrics_path}"
    )
    print(write_card(folder))


if __name__ == "__main__":
    sys.exit(run_command(f"python -m {__spec__.name}", main))
