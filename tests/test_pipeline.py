import math
import threading

import pytest
import torch
import transformers

import gliclass
from gliclass import ZeroShotMultilabelPipeline

LABELS = ["sports", "politics", "business", "science and technology"]


@pytest.fixture
def saved_model(make_model, tmp_path):
    model = make_model()
    model.save_pretrained(tmp_path / "model")
    return tmp_path / "model"


def test_transformers_pipeline_loads_a_saved_folder(saved_model):
    clf = transformers.pipeline("zero-shot-multilabel", model=str(saved_model), device="cpu")
    assert isinstance(clf, ZeroShotMultilabelPipeline)
    result = clf("the team won the match", candidate_labels=LABELS)
    assert result["sequence"] == "the team won the match"
    assert sorted(result["labels"]) == sorted(LABELS)
    assert result["scores"] == sorted(result["scores"], reverse=True)
    assert all(0 <= s <= 1 for s in result["scores"])


def test_gliclass_pipeline_matches_transformers_pipeline(saved_model):
    ours = gliclass.pipeline("zero-shot-multilabel", model=saved_model, device="cpu")
    theirs = transformers.pipeline("zero-shot-multilabel", model=str(saved_model), device="cpu")
    texts = ["stocks fell", "the team won the championship again"]
    assert ours(texts, candidate_labels=LABELS) == theirs(texts, candidate_labels=LABELS)


def test_texts_given_as_a_mapping_a_set_or_bytes_are_refused(make_model):
    clf = gliclass.pipeline(model=make_model(), device="cpu")
    for wrong in ({"text": "the team won"}, {"the team won", "stocks fell"}, b"the team won"):
        with pytest.raises(TypeError, match=f"got {type(wrong).__name__}"):
            clf(wrong, candidate_labels=LABELS)


def test_torch_dtype_is_taken_as_dtype(saved_model):
    assert gliclass.pipeline(model=saved_model, device="cpu", torch_dtype=torch.bfloat16).model.dtype == torch.bfloat16
    assert gliclass.pipeline(model=saved_model, device="cpu", torch_dtype="float16").model.dtype == torch.float16
    with pytest.raises(ValueError, match="disagree"):
        gliclass.pipeline(model=saved_model, device="cpu", dtype="float16", torch_dtype=torch.bfloat16)


def test_batching_and_order_do_not_change_scores(make_model):
    clf = gliclass.pipeline(model=make_model(pooling_strategy="avg"), device="cpu")
    texts = ["short", "a much longer text about the central bank and the markets", "the team won"]
    together = clf(texts, candidate_labels=LABELS, batch_size=3)
    for text, result in zip(texts, together):
        alone = clf(text, candidate_labels=LABELS, batch_size=1)
        assert alone["labels"] == result["labels"]
        assert alone["scores"] == pytest.approx(result["scores"], abs=1e-5)


def test_threshold_and_single_label(make_model):
    clf = gliclass.pipeline(model=make_model(), device="cpu")
    full = clf("the team won", candidate_labels=LABELS)
    cut = full["scores"][1]
    kept = clf("the team won", candidate_labels=LABELS, threshold=cut)
    assert kept["labels"] == full["labels"][:2]
    single = clf("the team won", candidate_labels=LABELS, multi_label=False)
    assert math.isclose(sum(single["scores"]), 1.0, rel_tol=1e-5)


def test_label_groups_are_scored_and_softmaxed_together(make_model):
    model = make_model()
    labels = [f"topic {i}" for i in range(30)]
    small = gliclass.pipeline(model=model, device="cpu", max_length=48, min_text_tokens=8)
    assert len(small.row_builder.label_groups(labels, "", "")) > 1
    result = small("the team won", candidate_labels=labels, multi_label=False)
    assert sorted(result["labels"]) == sorted(labels)
    assert math.isclose(sum(result["scores"]), 1.0, rel_tol=1e-5)


def test_windows_aggregate_with_max(make_model):
    clf = gliclass.pipeline(model=make_model(), device="cpu", max_length=40, window_overlap=8)
    text = "the team won the championship " * 20
    windowed = clf(text, candidate_labels=LABELS, windows=True)
    truncated = clf(text, candidate_labels=LABELS)
    assert sorted(windowed["labels"]) == sorted(LABELS)
    assert max(windowed["scores"]) >= max(truncated["scores"]) - 1e-6
    for bad in ({"window_overlap": -100}, {"window_overlap": 8.5}, {"min_text_tokens": 0}, {"min_text_tokens": 2.5}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            gliclass.pipeline(model=make_model(), device="cpu", max_length=40, **bad)


def test_prompt_and_examples_change_the_input(make_model):
    clf = gliclass.pipeline(model=make_model(), device="cpu")
    plain = clf("the team won", candidate_labels=LABELS)
    prompted = clf("the team won", candidate_labels=LABELS, prompt="Classify the topic:")
    shots = clf("the team won", candidate_labels=LABELS, examples=[{"text": "a draw", "labels": ["sports"]}])
    assert plain["scores"] != prompted["scores"] and plain["scores"] != shots["scores"]


def test_per_text_label_lists(make_model):
    clf = gliclass.pipeline(model=make_model(), device="cpu")
    out = clf(["a", "b"], candidate_labels=[["x", "y"], ["p", "q", "r"]])
    assert sorted(out[0]["labels"]) == ["x", "y"] and sorted(out[1]["labels"]) == ["p", "q", "r"]


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(inputs=""), ValueError),
        (dict(inputs=[]), ValueError),
        (dict(inputs=["ok", None]), TypeError),
        (dict(candidate_labels=[]), ValueError),
        (dict(candidate_labels=["a", "a"]), ValueError),
        (dict(candidate_labels=None), ValueError),
        (dict(threshold=1.5), ValueError),
        (dict(threshold=-0.1), ValueError),
        (dict(candidate_labels=["<<SEP>>"]), ValueError),
        (dict(batch_size=0), ValueError),
    ],
)
def test_bad_calls(make_model, kwargs, error):
    clf = gliclass.pipeline(model=make_model(), device="cpu")
    call = dict(inputs="the team won", candidate_labels=LABELS) | kwargs
    with pytest.raises(error):
        clf(call.pop("inputs"), **call)


def test_model_without_tokenizer_needs_one(make_model):
    model = make_model()
    tokenizer, model.tokenizer = model.tokenizer, None
    with pytest.raises(ValueError, match="tokenizer"):
        gliclass.pipeline(model=model, device="cpu")
    assert gliclass.pipeline(model=model, tokenizer=tokenizer, device="cpu")("hi", candidate_labels=LABELS)


def test_max_length_never_exceeds_the_backbone(make_model):
    with pytest.raises(ValueError, match="limit 128"):
        gliclass.pipeline(model=make_model(), device="cpu", max_length=1000)
    assert gliclass.pipeline(model=make_model(), device="cpu").row_builder.max_length == 128


def test_fast_mode_keeps_the_given_model_and_ranks_alike(make_model):
    model = make_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    exact = gliclass.pipeline(model=model, device="cpu")
    fast = gliclass.pipeline(model=model, device="cpu", fast=True)
    texts = ["the team won", "stocks fell sharply", "a new phone was announced"]
    for a, b in zip(exact(texts, candidate_labels=LABELS), fast(texts, candidate_labels=LABELS)):
        assert b["labels"][0] == a["labels"][0] and b["scores"] == pytest.approx(a["scores"], abs=0.1)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_label_descriptions_go_into_the_input_and_names_come_out(make_model):
    clf = gliclass.pipeline(model=make_model(), device="cpu")
    described = {"sports": "games, matches and athletes", "business": None}
    prepared = clf.preprocess(["the team won"], described)
    decoded = clf.tokenizer.decode(prepared["rows"][0].input_ids)
    assert "games" in decoded and prepared["labels"] == [["sports", "business"]]
    result = clf("the team won", candidate_labels=described)
    assert sorted(result["labels"]) == ["business", "sports"]
    assert result["scores"] != clf("the team won", candidate_labels=["sports", "business"])["scores"]
    with pytest.raises(ValueError, match="description of label"):
        clf("the team won", candidate_labels={"sports": "<<SEP>>"})


@pytest.mark.parametrize("factory", ["make_model", "make_embedder"])
def test_scores_in_eval_mode_and_gives_back_the_caller_s_training_mode(factory, request):
    """A model left in training mode (dropout on) by fine-tuning code scores as in eval mode, keeps
    no dropped-out label vector in the label cache, and is handed back with each module's mode."""
    model = request.getfixturevalue(factory)()
    clf = gliclass.pipeline(model=model, device="cpu")
    texts, labels = ["the team won the match", "stocks fell sharply"], ["sports", "business", "politics"]
    expected = clf.score_texts(texts, labels)
    clf.clear_label_cache()
    model.train()
    model.model.encoder_model.embeddings.eval()  # a module the caller keeps in eval mode
    modes = {name: module.training for name, module in model.named_modules()}
    for _ in range(2):
        assert torch.allclose(clf.score_texts(texts, labels), expected, atol=1e-6)
        result = clf(texts[0], candidate_labels=labels)
        assert result["scores"] == pytest.approx(expected[0].sort(descending=True).values.tolist(), abs=1e-6)
    if clf.label_cache is not None:
        clf.encode_labels(["weather"])
    assert {name: module.training for name, module in model.named_modules()} == modes
    model.eval()  # label vectors cached while the model was training are those of eval mode
    assert torch.allclose(clf.score_texts(texts, labels), expected, atol=1e-6)


def test_a_call_keeps_eval_mode_while_a_call_of_another_thread_ends(make_model):
    """Two threads share a pipeline whose model was left in training mode: the call that ends first
    must not put the model back in training mode (dropout) under the call still running."""
    model = make_model()
    clf = gliclass.pipeline(model=model, device="cpu")
    texts, labels = ["the team won the match", "stocks fell sharply"], ["sports", "business", "politics"]
    expected = clf.score_texts(texts, labels)
    model.train()
    first_inside, second_inside, first_done = threading.Event(), threading.Event(), threading.Event()

    def meet(module, inputs):
        if threading.current_thread().name == "first":
            first_inside.set()
            second_inside.wait(timeout=30)
        elif not second_inside.is_set():
            second_inside.set()
            first_done.wait(timeout=30)  # the first call ends (and gives modes back) meanwhile

    model.register_forward_pre_hook(meet)
    first = threading.Thread(target=lambda: (clf.score_texts(texts, labels), first_done.set()), name="first")
    first.start()
    first_inside.wait(timeout=30)
    second = clf.score_texts(texts, labels)
    first.join()
    assert torch.allclose(second, expected, atol=1e-6)
    assert all(module.training for module in model.modules())
