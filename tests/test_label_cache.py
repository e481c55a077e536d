"""Label vectors kept across calls for models that encode labels apart; `top_k`."""

import pytest
import torch

import gliclass

TEXTS = ["the team won the match", "stocks fell sharply", "a new phone was announced"]
LABELS = ["sports", "business", "science and technology", "politics"]


@pytest.fixture
def apart_model(make_embedder):
    return make_embedder()


def test_labels_are_encoded_once_across_calls(apart_model):
    clf = gliclass.pipeline(model=apart_model, device="cpu")
    cache = clf.label_cache
    first = clf(TEXTS, candidate_labels=LABELS)
    assert (cache.misses, cache.hits) == (len(LABELS), 0)
    again = clf(TEXTS[0], candidate_labels=LABELS[:2])
    assert (cache.misses, cache.hits) == (len(LABELS), 2)  # both from the cache
    expected = dict(zip(first[0]["labels"], first[0]["scores"]))
    assert again["scores"] == pytest.approx([expected[label] for label in again["labels"]], abs=1e-6)
    clf("x y", candidate_labels={"sports": "games and matches"})  # a description is another label form
    assert cache.misses == len(LABELS) + 1


def test_weight_changes_and_clear_drop_the_cache(apart_model):
    clf = gliclass.pipeline(model=apart_model, device="cpu")
    before = clf(TEXTS, candidate_labels=LABELS)
    with torch.no_grad():
        apart_model.model.classes_projector.linear_2.bias.add_(0.5)
    after = clf(TEXTS, candidate_labels=LABELS)
    assert clf.label_cache.misses == 2 * len(LABELS) and after != before
    clf.clear_label_cache()
    clf(TEXTS, candidate_labels=LABELS)
    assert clf.label_cache.misses == 3 * len(LABELS)


def test_encode_labels_ahead_and_bounded_size(apart_model):
    clf = gliclass.pipeline(model=apart_model, device="cpu", label_cache_size=3)
    assert clf.encode_labels(LABELS) == 3  # the LRU keeps 3
    clf(TEXTS, candidate_labels=LABELS[1:])
    assert (clf.label_cache.misses, clf.label_cache.hits) == (len(LABELS), 3)
    none = gliclass.pipeline(model=apart_model, device="cpu", label_cache_size=0)
    none(TEXTS, candidate_labels=LABELS)
    assert len(none.label_cache) == 0
    with pytest.raises(ValueError, match="nothing to cache"):
        gliclass.pipeline(model=apart_model, device="cpu", encode_labels_apart=False).encode_labels(LABELS)


def test_top_k_keeps_the_best_labels(make_model):
    clf = gliclass.pipeline(model=make_model(), device="cpu")
    full = clf(TEXTS, candidate_labels=LABELS)
    top = clf(TEXTS, candidate_labels=LABELS, top_k=2)
    assert [r["labels"] for r in top] == [r["labels"][:2] for r in full]
    with pytest.raises(ValueError, match="top_k"):
        clf(TEXTS, candidate_labels=LABELS, top_k=0)
