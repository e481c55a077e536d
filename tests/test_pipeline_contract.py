"""The transformers pipeline contract: defaults, dtype/device, construction options, streaming,
and clear errors for bad arguments."""

import json
import logging
import subprocess
import sys
import warnings

import datasets
import numpy as np
import pytest
import torch
import transformers
from transformers.pipelines.pt_utils import KeyDataset

import gliclass
from gliclass import DEFAULT_MODEL_DIR, ZeroShotMultilabelPipeline
from gliclass.pipeline import ShippedModelNotice

LABELS = ["sports", "politics", "business"]
TEXTS = ["the team won the match", "parliament passed the budget bill", "stocks fell sharply"]


@pytest.fixture(scope="module")
def default_pipe():
    return transformers.pipeline("zero-shot-multilabel", device="cpu")


def test_transformers_pipeline_without_model_uses_the_shipped_model(default_pipe):
    assert isinstance(default_pipe, ZeroShotMultilabelPipeline)
    assert default_pipe.model.name_or_path == str(DEFAULT_MODEL_DIR)
    assert default_pipe.model.dtype == torch.float32  # float16 checkpoint, run in float32 on CPU ("auto")
    result = default_pipe("The team won the championship final last night.", candidate_labels=LABELS)
    assert result["labels"][0] == "sports"


USER_CALL = """
import json, gliclass, transformers
clf = transformers.pipeline("zero-shot-multilabel")
print(json.dumps(clf("The team won the game last night.", candidate_labels=["sports", "politics", "business"])))
"""


def test_transformers_pipeline_as_users_call_it_classifies_without_a_notice(tmp_path):
    """The shipped model is the default: no "No model was supplied ... not recommended" notice."""
    result = subprocess.run([sys.executable, "-c", USER_CALL], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["labels"][0] == "sports" and answer["scores"][0] >= 0.5
    assert "No model was supplied" not in result.stderr and "not recommended" not in result.stderr, result.stderr
    notice = "No model was supplied, defaulted to {} and revision None.\nUsing a pipeline ... not recommended."
    record = logging.LogRecord(
        "transformers.pipelines", logging.WARNING, __file__, 1, notice.format(DEFAULT_MODEL_DIR), None, None
    )
    assert not ShippedModelNotice().filter(record)  # as transformers writes it ...
    record.msg = notice.format("some/other-model")
    assert ShippedModelNotice().filter(record)  # ... and kept for any other default


def test_called_as_transformers_zero_shot_classification_is_called(default_pipe):
    text = "The team won the game last night."
    expected = default_pipe(text, candidate_labels=LABELS)
    assert expected["labels"][0] == "sports" and expected["scores"][0] >= 0.5
    assert default_pipe(text, LABELS) == expected  # candidate labels second, positionally
    assert default_pipe(sequences=text, candidate_labels=LABELS) == expected
    assert default_pipe(TEXTS, "sports, politics, business") == default_pipe(TEXTS, candidate_labels=LABELS)
    with pytest.raises(TypeError, match="multiple values for argument 'candidate_labels'"):
        default_pipe(text, LABELS, candidate_labels=LABELS)
    with pytest.raises(TypeError, match="given twice"):
        default_pipe(text, sequences=text, candidate_labels=LABELS)
    with pytest.raises(TypeError, match="no texts given"):
        default_pipe(candidate_labels=LABELS)


def test_hypothesis_template_and_framework_are_taken_as_transformers_takes_them(default_pipe):
    text = "The team won the game last night."
    templated = default_pipe(text, candidate_labels=LABELS, hypothesis_template="This example is about {}.")
    assert templated["labels"][0] == "sports" and sorted(templated["labels"]) == sorted(LABELS)
    assert templated["scores"] != default_pipe(text, candidate_labels=LABELS)["scores"]  # the filled text is scored
    assert transformers.pipeline("zero-shot-multilabel", device="cpu", framework="pt")(text, LABELS)["labels"][0] == (
        "sports"
    )
    for template, error, message in [
        ("This example is sports.", ValueError, "no '{}' for the label"),
        ("{0} and {1}", ValueError, "cannot be filled"),
        ("<<SEP>> {}", ValueError, "reserved token"),
        (3, TypeError, "must be a string"),
    ]:
        with pytest.raises(error, match=message):
            default_pipe(text, candidate_labels=LABELS, hypothesis_template=template)
    with pytest.raises(ValueError, match="framework must be 'pt'"):
        default_pipe(text, candidate_labels=LABELS, framework="tf")


def test_transformers_pipeline_on_the_float16_folder_honours_dtype(default_pipe):
    text = "The team won the championship final last night."
    half = transformers.pipeline(
        "zero-shot-multilabel", model=str(DEFAULT_MODEL_DIR), dtype=torch.float16, device="cpu"
    )
    assert half.model.dtype == torch.float16
    full = default_pipe(text, candidate_labels=LABELS)
    approx = half(text, candidate_labels=LABELS)
    assert approx["labels"] == full["labels"]
    assert approx["scores"] == pytest.approx(full["scores"], abs=2e-2)
    as_name = gliclass.pipeline(model=DEFAULT_MODEL_DIR, dtype="bfloat16", device="cpu")
    assert as_name.model.dtype == torch.bfloat16
    with pytest.raises(ValueError, match="dtype"):
        gliclass.pipeline(model=DEFAULT_MODEL_DIR, dtype="int8", device="cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
@pytest.mark.parametrize("device", ["cuda", "cuda:1", torch.device("cuda")])
def test_an_unavailable_device_is_a_clear_error(make_model, device):
    with pytest.raises(ValueError, match="not available"):
        gliclass.pipeline(model=make_model(), device=device)
    with pytest.raises(ValueError, match="not available"):
        transformers.pipeline("zero-shot-multilabel", model=str(DEFAULT_MODEL_DIR), device=device)


def test_construction_options_are_the_defaults_of_every_call(make_model):
    model = make_model()
    options = dict(
        candidate_labels=LABELS,
        threshold=0.3,
        multi_label=False,
        prompt="Topic:",
        windows=True,
        aggregation="mean",
        examples=[{"text": "the match ended", "labels": ["sports"]}],
        batch_size=2,
    )
    preset = gliclass.pipeline(model=model, device="cpu", **options)
    plain = gliclass.pipeline(model=model, device="cpu")
    assert preset(TEXTS) == plain(TEXTS, **options)
    assert preset(TEXTS) != plain(TEXTS, candidate_labels=LABELS)
    # a call option overrides the construction default
    assert preset(TEXTS, threshold=0.0, multi_label=True) == plain(
        TEXTS, **{**options, "threshold": 0.0, "multi_label": True}
    )


def test_none_at_a_call_turns_off_a_construction_threshold_top_k_or_shortlist(make_model):
    model = make_model()
    plain = gliclass.pipeline(model=model, device="cpu")
    everything = plain(TEXTS, candidate_labels=LABELS)
    limited = gliclass.pipeline(model=model, device="cpu", threshold=0.99, top_k=1, shortlist=2)
    assert all(len(result["labels"]) <= 1 for result in limited(TEXTS, candidate_labels=LABELS))
    assert limited(TEXTS, candidate_labels=LABELS, threshold=None, top_k=None, shortlist=None) == everything
    assert (
        transformers.pipeline("zero-shot-multilabel", model=model, device="cpu", top_k=1)(
            TEXTS, candidate_labels=LABELS, top_k=None
        )
        == everything
    )


def test_transformers_pipeline_passes_construction_options(saved_tiny_model):
    preset = transformers.pipeline(
        "zero-shot-multilabel",
        model=str(saved_tiny_model),
        device="cpu",
        candidate_labels=LABELS,
        threshold=0.5,
        batch_size=2,
    )
    plain = gliclass.pipeline(model=saved_tiny_model, device="cpu")
    assert preset(TEXTS) == plain(TEXTS, candidate_labels=LABELS, threshold=0.5, batch_size=2)


def test_a_model_object_brings_its_tokenizer_and_loading_options_reach_the_loader(saved_tiny_model):
    model = gliclass.GLiClassModel.from_pretrained(saved_tiny_model)
    plain = gliclass.pipeline(model=model, device="cpu")(TEXTS, candidate_labels=LABELS)
    through_transformers = transformers.pipeline("zero-shot-multilabel", model=model, device="cpu")
    assert through_transformers(TEXTS, candidate_labels=LABELS) == plain  # no tokenizer= needed
    by_path = transformers.pipeline(
        "zero-shot-multilabel", model=str(saved_tiny_model), tokenizer=str(saved_tiny_model)
    )
    assert by_path(TEXTS, candidate_labels=LABELS) == plain
    loaded = gliclass.pipeline(
        model=saved_tiny_model, device="cpu", local_files_only=True, revision=None, model_kwargs={"dtype": "bfloat16"}
    )
    assert loaded.model.dtype == torch.bfloat16
    older_name = gliclass.pipeline(model=saved_tiny_model, device="cpu", model_kwargs={"torch_dtype": torch.float16})
    assert older_name.model.dtype == torch.float16
    with pytest.raises(ValueError, match="model_kwargs' dtype both give the dtype"):
        gliclass.pipeline(model=saved_tiny_model, dtype="float16", model_kwargs={"dtype": torch.bfloat16})
    with pytest.raises(TypeError, match="revision apply to loading a model by name"):
        gliclass.pipeline(model=model, revision="main")
    with pytest.raises(ValueError, match="trust_remote_code is not supported"):
        gliclass.pipeline(model=saved_tiny_model, trust_remote_code=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        (saved_tiny_model / name).unlink(missing_ok=True)
    with pytest.raises(ValueError, match="this model has no tokenizer: save its tokenizer files"):
        transformers.pipeline("zero-shot-multilabel", model=str(saved_tiny_model))


def test_a_saved_pipeline_reloads_without_remote_code(saved_tiny_model, tmp_path):
    clf = transformers.pipeline("zero-shot-multilabel", model=str(saved_tiny_model), device="cpu")
    clf.save_pretrained(tmp_path / "saved")
    assert not list((tmp_path / "saved").glob("*.py"))  # transformers' own save copies the pipeline's code
    assert "custom_pipelines" not in json.loads((tmp_path / "saved" / "config.json").read_text())
    assert not hasattr(clf.model.config, "custom_pipelines")
    reloaded = transformers.pipeline("zero-shot-multilabel", model=str(tmp_path / "saved"), device="cpu")
    assert reloaded(TEXTS, candidate_labels=LABELS) == clf(TEXTS, candidate_labels=LABELS)


@pytest.fixture
def saved_tiny_model(make_model, tmp_path):
    make_model().save_pretrained(tmp_path / "model")
    return tmp_path / "model"


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, "8", True])
def test_bad_batch_size_is_refused_at_construction_and_call(make_model, batch_size):
    model = make_model()
    with pytest.raises(ValueError, match="batch_size"):
        gliclass.pipeline(model=model, device="cpu", batch_size=batch_size)
    with pytest.raises(ValueError, match="batch_size"):
        gliclass.pipeline(model=model, device="cpu")(TEXTS, candidate_labels=LABELS, batch_size=batch_size)


def test_num_workers_is_checked_and_warns_that_it_has_no_effect(make_model):
    clf = gliclass.pipeline(model=make_model(), device="cpu")
    plain = clf(TEXTS, candidate_labels=LABELS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert clf(TEXTS, candidate_labels=LABELS, num_workers=np.int64(1)) == plain
    with pytest.warns(UserWarning, match="num_workers=4 has no effect") as caught:
        assert clf(TEXTS, candidate_labels=LABELS, num_workers=4) == plain
    assert caught[0].filename == __file__
    with pytest.warns(UserWarning, match="num_workers=2 has no effect"):
        gliclass.pipeline(model=clf.model, device="cpu", num_workers=2)
    for bad in (-1, 2.5, "2", True):
        with pytest.raises(ValueError, match="num_workers must be an integer of at least 0"):
            clf(TEXTS, candidate_labels=LABELS, num_workers=bad)
        with pytest.raises(ValueError, match="num_workers must be an integer of at least 0"):
            gliclass.pipeline(model=clf.model, device="cpu", num_workers=bad)


def test_numpy_scalars_are_accepted(make_model):
    clf = gliclass.pipeline(model=make_model(), device="cpu")
    plain = clf(TEXTS, candidate_labels=LABELS, threshold=0.4)
    assert clf(TEXTS, candidate_labels=LABELS, threshold=np.float32(0.4)) == plain
    assert clf(TEXTS, candidate_labels=LABELS, threshold=np.float64(0.4), multi_label=np.bool_(True)) == plain
    assert clf(TEXTS, candidate_labels=LABELS, batch_size=np.int64(2)) == clf(
        TEXTS, candidate_labels=LABELS, batch_size=2
    )


@pytest.mark.parametrize(
    "options, error, message",
    [
        (dict(threshold=True), TypeError, "threshold"),
        (dict(threshold="0.5"), TypeError, "threshold"),
        (dict(threshold=1.5), ValueError, "threshold"),
        (dict(threshold=float("nan")), ValueError, "threshold"),
        (dict(multi_label="yes"), TypeError, "multi_label"),
        (dict(multi_label=1), TypeError, "multi_label"),
        (dict(windows="no"), TypeError, "windows"),
        (dict(prompt="Topic <<SEP>> of"), ValueError, "reserved token"),
        (dict(prompt=["one", "two"]), ValueError, "2 prompts for 3 texts"),
        (dict(aggregation="sum"), ValueError, "aggregation"),
        (dict(treshold=0.5), TypeError, "treshold"),
        (dict(candidate_labels=[]), ValueError, "empty"),
    ],
)
def test_bad_options_are_refused_at_the_call_and_at_construction(make_model, options, error, message):
    model = make_model()
    call = {"candidate_labels": LABELS, **options}
    with pytest.raises(error, match=message):
        gliclass.pipeline(model=model, device="cpu")(TEXTS, **call)
    if "prompt" not in options or isinstance(options["prompt"], str):  # per-text prompts are fine until texts come
        with pytest.raises(error, match=message):
            gliclass.pipeline(model=model, device="cpu", **call)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "\u200b\u200b",
        "\u200b \u2060\ufeff",
        "\x00\x07\n",
        "\u00a0\u3000",
        "\ufe0f",
        "\u0301\u0301",
        "\u3164",
        "\u2800",
    ],
)
def test_texts_without_visible_characters_are_refused(make_model, text):
    clf = gliclass.pipeline(model=make_model(), device="cpu")
    with pytest.raises(ValueError, match="text 1 is empty"):
        clf(["fine", text], candidate_labels=LABELS)
    with pytest.raises(ValueError, match="text 1 is empty"):
        list(clf((t for t in ["fine", text]), candidate_labels=LABELS))


def test_missing_labels_and_empty_inputs(make_model):
    clf = gliclass.pipeline(model=make_model(), device="cpu")
    with pytest.raises(ValueError, match="candidate_labels is required"):
        clf(TEXTS)
    with pytest.raises(ValueError, match="empty list"):
        clf([], candidate_labels=LABELS)
    with pytest.raises(TypeError, match="inputs must be"):
        clf(42, candidate_labels=LABELS)


def test_datasets_and_generators_stream_one_result_per_text(make_model):
    clf = gliclass.pipeline(model=make_model(), device="cpu")
    expected = clf(TEXTS * 3, candidate_labels=LABELS)
    dataset = datasets.Dataset.from_dict({"text": TEXTS * 3, "id": list(range(9))})
    streamed = list(clf(KeyDataset(dataset, "text"), candidate_labels=LABELS, batch_size=2))
    assert _same_results(streamed, expected)
    empty = KeyDataset(datasets.Dataset.from_dict({"text": []}), "text")
    assert list(clf(empty, candidate_labels=LABELS)) == list(clf(iter([]), candidate_labels=LABELS)) == []
    generated = clf((text for text in TEXTS * 3), candidate_labels=LABELS)
    first = next(iter(generated))
    assert _same_results([first], expected[:1])
    with pytest.raises(ValueError, match="per text needs a list"):
        list(clf((text for text in TEXTS), candidate_labels=[LABELS] * 3))


def _same_results(got, expected):
    assert [r["labels"] for r in got] == [r["labels"] for r in expected]
    for mine, theirs in zip(got, expected):
        assert mine["scores"] == pytest.approx(theirs["scores"], abs=1e-5)
    return True


def test_cut_texts_warn_once_per_call_with_counts(make_model):
    clf = gliclass.pipeline(model=make_model(), device="cpu", max_length=40)
    long_text = "the team won the championship " * 20
    with pytest.warns(UserWarning, match=r"1 of 2 texts did not fit in 40 tokens .* windows=True") as caught:
        clf([long_text, "short text"], candidate_labels=LABELS)
    assert len([w for w in caught if "did not fit" in str(w.message)]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf([long_text, "short text"], candidate_labels=LABELS, windows=True)
        clf(["short text"], candidate_labels=LABELS)


def test_a_stream_left_early_still_warns_about_the_cut_texts_it_gave_out(make_model):
    clf = gliclass.pipeline(model=make_model(), device="cpu", max_length=40)
    stream = clf(iter(["the team won the championship " * 20, "short text"]), candidate_labels=LABELS)
    with pytest.warns(UserWarning, match=r"1 of 2 texts did not fit in 40 tokens"):
        next(stream)
        stream.close()


def test_lone_surrogates_are_refused_not_passed_to_the_tokenizer(make_model):
    clf = gliclass.pipeline(model=make_model(), device="cpu")
    with pytest.raises(ValueError, match="text 1 holds a lone surrogate"):
        clf(["fine", "abc \ud800 def"], candidate_labels=LABELS)
    with pytest.raises(ValueError, match="lone surrogate"):
        clf("fine", candidate_labels=["ok", "bad \udfff"])


@pytest.mark.parametrize(
    "labels, message",
    [
        (["\u200b", "a"], "empty label"),
        (["\x00", "a"], "empty label"),
        (["a", " a"], "differ only in surrounding spaces"),
        (["sports", "sports"], "given twice"),
    ],
)
def test_invisible_and_duplicate_labels_are_refused(make_model, labels, message):
    with pytest.raises(ValueError, match=message):
        gliclass.pipeline(model=make_model(), device="cpu")("text", candidate_labels=labels)


def test_sized_containers_give_lists_and_iterators_stream(make_model):
    clf = gliclass.pipeline(model=make_model(), device="cpu", candidate_labels=LABELS)
    expected = clf(TEXTS)
    column = datasets.Dataset.from_dict({"text": TEXTS})["text"]
    for container in (np.array(TEXTS), column, tuple(TEXTS)):
        assert _same_results(clf(container), expected)
    assert _same_results(list(clf(iter(TEXTS))), expected)
    assert list(clf(text for text in [])) == []
    pandas = pytest.importorskip("pandas")
    table = pandas.DataFrame({"text": TEXTS, "id": range(len(TEXTS))})
    assert _same_results(clf(table["text"]), expected)
    with pytest.raises(TypeError, match=r"inputs is a table \(DataFrame\); pass its text column"):
        clf(table)  # iterating it gives the column names: they would be classified
    dataset = datasets.Dataset.from_dict({"text": TEXTS})
    for rows in (dataset, dataset.to_iterable_dataset()):  # iterating them gives dicts
        with pytest.raises(TypeError, match=r"inputs is a table \((Iterable)?Dataset\).*KeyDataset\(dataset, 'text'\)"):
            clf(rows)
    for array in (np.array(TEXTS[0]), np.array([TEXTS[:2]])):
        with pytest.raises(TypeError, match="1-d array of strings"):
            clf(array)


def test_an_overlong_prompt_is_named_as_the_problem(make_model):
    clf = gliclass.pipeline(model=make_model(), device="cpu")
    with pytest.raises(ValueError, match="the prompt and examples take"):
        clf("text", candidate_labels=LABELS, prompt="word " * 200)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
@pytest.mark.parametrize("device", [0, 1, "1"])
def test_a_gpu_index_without_a_gpu_is_a_clear_error(make_model, device):
    with pytest.raises(ValueError, match="no GPU"):
        gliclass.pipeline(model=make_model(), device=device)


def test_dtype_names_and_aliases(make_model):
    assert gliclass.pipeline(model=make_model(), device="cpu", dtype="half").model.dtype == torch.float16
    with pytest.raises(ValueError, match="'int8'"):
        gliclass.pipeline(model=make_model(), device="cpu", dtype="int8")


def test_score_texts_gives_the_results_as_a_table(make_model):
    clf = gliclass.pipeline(model=make_model(), device="cpu", prompt="Topic:")
    table = clf.score_texts(TEXTS, LABELS, batch_size=2)
    for row, result in zip(table, clf(TEXTS, candidate_labels=LABELS, batch_size=2)):
        assert row.tolist() == pytest.approx([dict(zip(result["labels"], result["scores"]))[lab] for lab in LABELS])
    single = clf.score_texts(TEXTS, LABELS, multi_label=False)
    assert single.sum(1).tolist() == pytest.approx([1.0] * len(TEXTS))
    with pytest.raises(ValueError, match="one label set"):
        clf.score_texts(TEXTS, [LABELS] * 3)
