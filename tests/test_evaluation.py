"""`gliclass.evaluation`: the metrics, their one tie rule, and `evaluate` on any scorer."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import gliclass
from gliclass.data import Example, LabelledSet
from gliclass.evaluation import metrics_from_scores, pipeline_scorer

LABELS = ["a", "b", "c"]


def one_hot(gold: list[list[str]]) -> torch.Tensor:
    return torch.tensor([[1.0 if label in row else 0.0 for label in LABELS] for row in gold])


@pytest.mark.parametrize("multi_label", [False, True])
def test_a_perfect_system_scores_one(multi_label: bool) -> None:
    gold = [["a"], ["b"], ["c"], ["a", "c"] if multi_label else ["a"]]
    metrics = metrics_from_scores(one_hot(gold), LABELS, gold, multi_label)
    assert metrics["macro_f1"] == metrics["micro_f1"] == metrics["accuracy"] == 1.0
    assert ("mean_average_precision" in metrics) == multi_label  # mAP: multi-label sets only
    assert metrics.get("mean_average_precision", 1.0) == 1.0


def test_single_label_metrics_match_hand_computed_values() -> None:
    gold = [["a"], ["a"], ["b"], ["c"]]
    scores = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]])  # text 1 wrong: b
    metrics = metrics_from_scores(scores, LABELS, gold, multi_label=False)
    # a: tp1 fn1 -> 2/3; b: tp1 fp1 -> 2/3; c: 1.0
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert metrics["micro_f1"] == pytest.approx(0.75) and metrics["accuracy"] == pytest.approx(0.75)
    assert "mean_average_precision" not in metrics  # mAP: multi-label sets only


def test_multi_label_metrics_use_the_threshold_and_rank_for_map() -> None:
    gold = [["a", "b"], ["c"]]
    scores = torch.tensor([[0.9, 0.2, 0.6], [0.1, 0.3, 0.8]])
    metrics = metrics_from_scores(scores, LABELS, gold, multi_label=True, threshold=0.5)  # predicted: {a, c}, {c}
    # a: tp1 -> 1.0; b: fn1 -> 0.0; c: tp1 fp1 -> 2/3
    assert metrics["macro_f1"] == pytest.approx((1 + 0 + 2 / 3) / 3)
    assert metrics["micro_f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert metrics["accuracy"] == pytest.approx(0.5)
    # ranking 1: a, c, b -> AP = (1/1 + 2/3) / 2; ranking 2: c first -> 1
    assert metrics["mean_average_precision"] == pytest.approx(((1 + 2 / 3) / 2 + 1) / 2)
    assert metrics_from_scores(scores, LABELS, gold, multi_label=True, threshold=0.95)["micro_f1"] == 0.0


def test_ties_go_to_the_label_listed_first() -> None:
    scores = torch.tensor([[0.5, 0.5, 0.5], [0.1, 0.7, 0.7]])
    assert metrics_from_scores(scores, LABELS, [["a"], ["b"]], multi_label=False)["accuracy"] == 1.0
    assert metrics_from_scores(scores, LABELS, [["b"], ["c"]], multi_label=False)["accuracy"] == 0.0
    # the ranking keeps label order among equals: c ranks third in row 1, second in row 2
    assert metrics_from_scores(scores, LABELS, [["c"], ["c"]], multi_label=True, threshold=1.0)[
        "mean_average_precision"
    ] == pytest.approx((1 / 3 + 1 / 2) / 2)


def test_scores_of_the_wrong_shape_are_refused() -> None:
    with pytest.raises(ValueError, match="shape"):
        metrics_from_scores(torch.zeros(1, 2), LABELS, [["a"]], multi_label=False)


def test_nan_scores_and_a_threshold_outside_0_1_are_refused() -> None:
    scores = torch.tensor([[0.9, 0.1, 0.0], [float("nan"), 0.2, 0.1]])  # the NaN would rank first: a "hit"
    with pytest.raises(ValueError, match="scores of text 1 hold NaN"):
        metrics_from_scores(scores, LABELS, [["a"], ["a"]], multi_label=False)
    for threshold, error in ((float("nan"), ValueError), (1.5, ValueError), ("0.5", TypeError)):
        with pytest.raises(error, match="threshold must be a number in"):
            metrics_from_scores(torch.zeros(1, 3), LABELS, [["a"]], multi_label=True, threshold=threshold)


def test_evaluate_takes_any_scorer_and_a_limit() -> None:
    labelled = LabelledSet(
        "toy", [Example("x a", {"a": 1.0}), Example("x b", {"b": 1.0}), Example("x c", {"a": 1.0})], LABELS
    )
    seen = []

    def scorer(texts: list[str], labels: list[str]) -> torch.Tensor:
        seen.append(texts)
        return torch.tensor([[float(text.endswith(label)) for label in labels] for text in texts])

    assert gliclass.evaluate(scorer, labelled)["accuracy"] == pytest.approx(2 / 3)
    assert gliclass.evaluate(scorer, labelled, limit=2)["accuracy"] == 1.0 and seen[-1] == ["x a", "x b"]


@pytest.mark.parametrize("limit", [0, -1, 2.5, True])
def test_a_limit_that_is_not_a_count_is_refused(limit) -> None:
    labelled = LabelledSet("toy", [Example("x a", {"a": 1.0}), Example("x b", {"b": 1.0})], LABELS)
    with pytest.raises(ValueError, match="limit must be a positive integer"):
        gliclass.evaluate(lambda texts, labels: torch.zeros(len(texts), len(labels)), labelled, limit=limit)


def test_a_numpy_integer_limit_is_a_count() -> None:
    labelled = LabelledSet("toy", [Example("x a", {"a": 1.0}), Example("x b", {"b": 1.0})], LABELS)
    seen = []
    gliclass.evaluate(
        lambda texts, labels: seen.append(texts) or torch.zeros(len(texts), len(labels)), labelled, limit=np.int64(1)
    )
    assert seen == [["x a"]]


def test_a_pipeline_scores_through_its_adapter(backbone_dir) -> None:
    torch.manual_seed(0)
    clf = gliclass.pipeline(model=gliclass.GLiClassModel.from_backbone(str(backbone_dir)))
    scores = pipeline_scorer(clf)(["the match ended"], LABELS)
    result = clf("the match ended", candidate_labels=LABELS)
    assert [scores[0, LABELS.index(label)].item() for label in result["labels"]] == pytest.approx(result["scores"])


def test_a_label_scored_0_in_a_label_score_map_is_not_a_true_label(tmp_path) -> None:
    path = tmp_path / "eval.jsonl"
    labels = ["sports", "politics"]
    rows = [("United won 3-1.", {"sports": 1.0, "politics": 0.0}), ("The bill passed.", {"sports": 0, "politics": 1})]
    path.write_text(
        "".join(json.dumps({"text": text, "all_labels": labels, "true_labels": truth}) + "\n" for text, truth in rows),
        encoding="utf-8",
    )
    labelled = gliclass.load_set(path)
    assert labelled.gold == [["sports"], ["politics"]] and not labelled.multi_label
    metrics = gliclass.evaluate(lambda texts, labels: torch.tensor([[0.9, 0.1], [0.2, 0.8]]), labelled)
    assert metrics["macro_f1"] == metrics["micro_f1"] == metrics["accuracy"] == 1.0
