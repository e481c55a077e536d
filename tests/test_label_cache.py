"""Label vectors kept across calls for models that encode labels apart, saved and loaded; `top_k`."""

import contextlib
import copy
import json
import pickle
import unittest
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import gliclass
from gliclass.label_cache import LabelVectorCache
from gliclass.labels_apart import LabelInput

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
    for bad in (0, False):  # not taken as "the default batch size"
        with pytest.raises(ValueError, match="batch_size must be a positive integer"):
            clf.encode_labels(LABELS, batch_size=bad)


def test_encode_labels_fills_the_hypothesis_template_as_calls_do(apart_model):
    template = "This text is about {}."
    clf = gliclass.pipeline(model=apart_model, device="cpu", hypothesis_template=template)
    clf.encode_labels(LABELS)
    clf(TEXTS, candidate_labels=LABELS)
    assert (clf.label_cache.misses, clf.label_cache.hits) == (len(LABELS), len(LABELS))
    plain = gliclass.pipeline(model=apart_model, device="cpu")
    plain.encode_labels(LABELS, hypothesis_template=template)
    plain(TEXTS, candidate_labels=LABELS, hypothesis_template=template)
    assert (plain.label_cache.misses, plain.label_cache.hits) == (len(LABELS), len(LABELS))
    with pytest.raises(ValueError, match="has no '{}'"):
        plain.encode_labels(LABELS, hypothesis_template="no slot")


def test_top_k_keeps_the_best_labels(make_model):
    clf = gliclass.pipeline(model=make_model(), device="cpu")
    full = clf(TEXTS, candidate_labels=LABELS)
    top = clf(TEXTS, candidate_labels=LABELS, top_k=2)
    assert [r["labels"] for r in top] == [r["labels"][:2] for r in full]
    with pytest.raises(ValueError, match="top_k"):
        clf(TEXTS, candidate_labels=LABELS, top_k=0)


def test_saved_label_vectors_load_into_another_session(apart_model, tmp_path):
    clf = gliclass.pipeline(model=apart_model, device="cpu")
    clf.encode_labels({"sports": "games and matches", "business": None, "politics": None})
    path = tmp_path / "taxonomy" / "labels.safetensors"
    assert clf.save_label_vectors(path) == 3
    apart_model.save_pretrained(tmp_path / "model")  # the same weights, loaded again
    fresh = gliclass.pipeline(model=gliclass.GLiClassModel.from_pretrained(tmp_path / "model"), device="cpu")
    assert fresh.load_label_vectors(path) == 3
    labels = {"sports": "games and matches", "business": None, "politics": None}
    loaded = fresh(TEXTS, candidate_labels=labels)
    assert (fresh.label_cache.misses, fresh.label_cache.hits) == (0, 3)
    expected = clf(TEXTS, candidate_labels=labels)
    for mine, other in zip(loaded, expected):
        assert mine["labels"] == other["labels"]
        assert mine["scores"] == pytest.approx(other["scores"], abs=1e-6)


def test_label_vectors_of_other_weights_model_or_precision_are_refused(apart_model, make_embedder, tmp_path):
    path = tmp_path / "labels.safetensors"
    clf = gliclass.pipeline(model=apart_model, device="cpu")
    clf.encode_labels(LABELS)
    clf.save_label_vectors(path)
    with safe_open(str(path), framework="pt") as handle:
        metadata, vectors = handle.metadata(), handle.get_tensor("vectors")
    wider = tmp_path / "wider.safetensors"
    save_file({"vectors": torch.ones(len(LABELS), 7)}, str(wider), metadata=metadata)
    with pytest.raises(ValueError, match="shape \\(7,\\).*another model"):
        clf.load_label_vectors(wider)
    fingerprint = json.loads(metadata["fingerprint"]) | {"encoder": "deberta-v2"}
    relabelled = tmp_path / "deberta.safetensors"
    save_file({"vectors": vectors}, str(relabelled), metadata=metadata | {"fingerprint": json.dumps(fingerprint)})
    with pytest.raises(ValueError, match="another model \\('uni-encoder' on 'deberta-v2'\\)"):
        clf.load_label_vectors(relabelled)
    float64 = gliclass.pipeline(model=make_embedder(), device="cpu", dtype="float64")
    with pytest.raises(ValueError, match="'float32'.*'float64'"):
        float64.load_label_vectors(path)
    changed = make_embedder()
    with torch.no_grad():
        changed.model.classes_projector.linear_2.bias.add_(0.5)
    retrained = gliclass.pipeline(model=changed, device="cpu")
    with pytest.raises(ValueError, match="other weights"):
        retrained.load_label_vectors(path)
    assert len(retrained.label_cache) == 0
    text_side = make_embedder()  # weights that label vectors do not go through: the vectors still hold
    with torch.no_grad():
        text_side.model.text_projector.linear_2.bias.add_(0.5)
    assert gliclass.pipeline(model=text_side, device="cpu").load_label_vectors(path) == len(LABELS)
    small = gliclass.pipeline(model=apart_model, device="cpu", label_cache_size=2)
    with pytest.raises(ValueError, match="at most 2"):
        small.load_label_vectors(path)


def test_bad_label_vector_files_and_pipelines(apart_model, make_model, tmp_path):
    clf = gliclass.pipeline(model=apart_model, device="cpu")
    with pytest.raises(ValueError, match="no label vectors are cached"):
        clf.save_label_vectors(tmp_path / "empty.safetensors")
    missing = tmp_path / "missing.safetensors"
    with pytest.raises(FileNotFoundError, match="missing.safetensors"):
        clf.load_label_vectors(missing)
    text = tmp_path / "notes.safetensors"
    text.write_text("not a safetensors file")
    with pytest.raises(ValueError, match="not a safetensors file"):
        clf.load_label_vectors(text)
    weights = tmp_path / "weights.safetensors"
    save_file({"vectors": torch.zeros(2, 3)}, str(weights))
    with pytest.raises(ValueError, match="not one of label vectors"):
        clf.load_label_vectors(weights)
    joint = gliclass.pipeline(model=make_model(), device="cpu")
    with pytest.raises(ValueError, match="no label vectors"):
        joint.save_label_vectors(tmp_path / "joint.safetensors")
    with pytest.raises(ValueError, match="cannot use label vectors"):
        joint.load_label_vectors(weights)


def test_a_folder_is_no_label_vector_file_to_save_or_load(apart_model, tmp_path):
    clf = gliclass.pipeline(model=apart_model, device="cpu")
    clf.encode_labels(LABELS)
    with pytest.raises(OSError, match=f"cannot write label vectors to {tmp_path}"):
        clf.save_label_vectors(tmp_path)
    with pytest.raises(IsADirectoryError, match=f"{tmp_path} is a folder"):
        clf.load_label_vectors(tmp_path)


def test_label_vectors_of_a_model_with_another_tokenizer_are_refused(apart_model, tmp_path):
    path = tmp_path / "shipped.safetensors"
    shipped = gliclass.pipeline(device="cpu")  # the same kind of model (uni-encoder on BERT), another vocabulary
    shipped.encode_labels(LABELS)
    shipped.save_label_vectors(path)
    clf = gliclass.pipeline(model=apart_model, device="cpu")
    with pytest.raises(ValueError, match="tokenizer reads label 'sports' as other tokens.*another model"):
        clf.load_label_vectors(path)
    assert len(clf.label_cache) == 0


def test_a_label_too_long_is_one_error_without_the_tokenizer_s_warning(apart_model):
    clf = gliclass.pipeline(model=apart_model, device="cpu")
    with unittest.TestCase().assertNoLogs("transformers", level="WARNING"):  # no "Token indices ... indexing errors"
        with pytest.raises(ValueError, match="needs 201 tokens; at most 128 fit"):
            clf(TEXTS[0], candidate_labels=["sports", "match " * 200])


def test_one_cache_shared_by_threads(apart_model, tmp_path, run_in_threads):
    """Lookups, stores (evicting), clears and saves from several threads never see a key vanish
    halfway (the unguarded LRU raised KeyError within a few thousand operations)."""
    cache = LabelVectorCache(apart_model, max_labels=8)
    labels = [LabelInput(f"label {index}", (index,), 1) for index in range(20)]

    def step(thread: int, iteration: int) -> None:
        keys = [labels[(thread + iteration + index) % len(labels)] for index in range(5)]
        found = cache.lookup(keys)
        cache.store({key: torch.zeros(2) for key in keys if key not in found})
        if thread == 0 and iteration % 50 == 0:
            cache.clear()
        if thread == 1 and iteration % 50 == 0:
            with contextlib.suppress(ValueError):  # "no label vectors are cached" after a clear
                cache.save(tmp_path / "vectors.safetensors", {})

    run_in_threads(step, seconds=2)


def test_a_pipeline_shared_by_threads_gives_each_call_s_own_result(apart_model):
    """Calls with different and overlapping label sets and options, made from 6 threads over a small
    LRU, give what each call gives alone; the pipeline pickles and deep-copies (its cache's lock
    is left out and made anew)."""
    clf = gliclass.pipeline(model=apart_model, device="cpu", label_cache_size=4)
    examples = [{"text": "the striker scored", "labels": ["sports"]}, {"text": "the vote", "labels": ["politics"]}]
    calls = [
        (TEXTS[0], {"candidate_labels": LABELS}),
        (TEXTS, {"candidate_labels": LABELS[1:], "top_k": 2}),
        (TEXTS, {"candidate_labels": LABELS[:3], "threshold": 0.5}),
        (TEXTS, {"candidate_labels": LABELS, "examples": examples}),
        (TEXTS, {"candidate_labels": LABELS[::-1], "transductive": True}),
        (TEXTS[1], {"candidate_labels": ["weather", "sports"], "multi_label": False}),
    ] * 4

    def call(text_and_options: tuple) -> Any:
        text, options = text_and_options
        return clf(text, **options)

    alone = [call(item) for item in calls]
    with ThreadPoolExecutor(6) as pool:
        shared = list(pool.map(call, calls))
    for result, expected in zip(shared, alone):
        for got, want in zip(*(item if isinstance(item, list) else [item] for item in (result, expected))):
            assert got["labels"] == want["labels"]
            assert got["scores"] == pytest.approx(want["scores"], abs=1e-6)
    for copied in (copy.deepcopy(clf), pickle.loads(pickle.dumps(clf))):
        again = copied(TEXTS[0], candidate_labels=LABELS)
        assert again["labels"] == alone[0]["labels"]
        assert again["scores"] == pytest.approx(alone[0]["scores"], abs=1e-6)
        assert copied.label_cache._lock is not clf.label_cache._lock
