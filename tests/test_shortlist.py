"""Shortlist + rerank: a labels-apart shortlister picks each text's K labels, the joint model scores only those."""

from __future__ import annotations

import pickle
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import gliclass
from gliclass import DEFAULT_MODEL_DIR
from gliclass.shortlist import Shortlister

TEXTS = [
    "the match ended in a draw after extra time",
    "parliament passed the new budget bill on tuesday",
    "stocks fell sharply as markets reacted to the report",
]
LABELS = ["sports", "politics", "business", "science", "technology", "music", "health"]


@pytest.fixture
def shortlister(make_embedder):
    return gliclass.pipeline(model=make_embedder(), device="cpu")


@pytest.fixture
def joint(make_model, shortlister):
    return gliclass.pipeline(model=make_model(), device="cpu", shortlister=shortlister)


def test_shortlist_as_large_as_the_label_set_equals_plain_scoring(joint) -> None:
    assert joint(TEXTS, candidate_labels=LABELS, shortlist=len(LABELS)) == joint(TEXTS, candidate_labels=LABELS)
    assert joint(TEXTS, candidate_labels=LABELS, shortlist=50) == joint(TEXTS, candidate_labels=LABELS)


def test_joint_model_scores_only_the_shortlisted_labels(joint, shortlister) -> None:
    scores = shortlister.score_texts(TEXTS, candidate_labels=LABELS)
    best = [sorted(row.argsort(descending=True)[:3].tolist()) for row in scores]
    expected = [[LABELS[column] for column in columns] for columns in best]
    assert joint.preprocess(TEXTS, candidate_labels=LABELS, shortlist=3)["labels"] == expected
    assert len({tuple(labels) for labels in expected}) > 1  # the texts got different shortlists

    results = joint(TEXTS, candidate_labels=LABELS, shortlist=3)
    alone = joint(TEXTS, candidate_labels=expected)  # the joint model given only those labels
    assert_same_results(results, alone)
    assert [sorted(result["labels"]) for result in results] == [sorted(labels) for labels in expected]
    full = joint(TEXTS, candidate_labels=LABELS)
    assert results != [{**result, "labels": result["labels"][:3], "scores": result["scores"][:3]} for result in full]


def test_shortlist_keeps_descriptions_and_works_on_streams(joint, shortlister) -> None:
    described = {label: f"texts about {label}" for label in LABELS}
    results = joint(TEXTS, candidate_labels=described, shortlist=2)
    shortlisted = joint.preprocess(TEXTS, candidate_labels=described, shortlist=2)["labels"]
    assert_same_results(
        results, joint(TEXTS, candidate_labels=[{name: described[name] for name in s} for s in shortlisted])
    )
    assert list(joint((text for text in TEXTS), candidate_labels=described, shortlist=2)) == results


def test_shortlister_label_vectors_are_cached(joint, shortlister) -> None:
    joint(TEXTS, candidate_labels=LABELS, shortlist=2)
    misses = shortlister.label_cache.misses
    joint(TEXTS[:1], candidate_labels=LABELS, shortlist=2)
    assert shortlister.label_cache.misses == misses
    assert shortlister.label_cache.hits >= len(LABELS)


@pytest.mark.parametrize("k", [0, -1, 1.5, True, "3"])
def test_bad_shortlist_size_is_refused(joint, make_model, k) -> None:
    with pytest.raises(ValueError, match="shortlist must be a positive integer"):
        joint(TEXTS, candidate_labels=LABELS, shortlist=k)
    with pytest.raises(ValueError, match="shortlist must be a positive integer"):
        gliclass.pipeline(model=make_model(), device="cpu", shortlist=k)


def test_shortlister_must_encode_labels_apart(make_model, tmp_path) -> None:
    joint_model = make_model(seed=1)
    with pytest.raises(ValueError, match="must encode labels apart"):
        gliclass.pipeline(model=make_model(), device="cpu", shortlister=joint_model)
    with pytest.raises(ValueError, match="must encode labels apart"):
        Shortlister(gliclass.pipeline(model=joint_model, device="cpu"))
    joint_model.save_pretrained(tmp_path / "joint")
    with pytest.raises(ValueError, match="must encode labels apart"):
        Shortlister(tmp_path / "joint")
    with pytest.raises(TypeError, match="shortlister must be"):
        Shortlister(42)


def test_score_texts_scores_every_label(joint) -> None:
    with pytest.raises(TypeError, match="shortlist does not apply"):
        joint.score_texts(TEXTS, candidate_labels=LABELS, shortlist=2)


def test_default_shortlister_is_the_shipped_model(make_model) -> None:
    joint = gliclass.pipeline(model=make_model(), device="cpu", shortlist=2)
    results = joint(TEXTS, candidate_labels=LABELS)
    assert all(len(result["labels"]) == 2 for result in results)
    assert joint.shortlister.pipeline.model.name_or_path == str(DEFAULT_MODEL_DIR)
    assert joint.score_texts(TEXTS, candidate_labels=LABELS).shape == (len(TEXTS), len(LABELS))  # every label


def test_threads_load_the_default_shortlister_once(make_model) -> None:
    """Two threads that shortlisted at once each loaded a copy of the shipped model."""
    joint = gliclass.pipeline(model=make_model(), device="cpu")
    start = threading.Barrier(2)

    def load(_: int) -> object:
        start.wait()
        return joint.shortlister.pipeline

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(load, range(2))
    assert first is second
    assert pickle.loads(pickle.dumps(joint.shortlister)).pipeline.model.name_or_path == str(DEFAULT_MODEL_DIR)


def test_a_labels_apart_pipeline_shortlists_with_itself(shortlister) -> None:
    """It loaded a second model (the shipped one) to rank labels it ranks as cheaply itself."""
    assert shortlister.shortlister.pipeline is shortlister
    results = shortlister(TEXTS, candidate_labels=LABELS, shortlist=2)
    ranked = shortlister(TEXTS, candidate_labels=LABELS)
    for result, full in zip(results, ranked):
        assert set(result["labels"]) == set(full["labels"][:2])


def assert_same_results(first: list[dict], second: list[dict]) -> None:
    """Same texts and labels in the same order, scores equal up to float noise of another batching."""
    assert [(r["sequence"], r["labels"]) for r in first] == [(r["sequence"], r["labels"]) for r in second]
    for a, b in zip(first, second):
        assert a["scores"] == pytest.approx(b["scores"], abs=1e-6)
