"""Scores that can be thresholded: score_calibration, per-label biases (gliclass.calibrate),
transductive re-centring, and few-shot examples as label evidence."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import gliclass
from gliclass import GLiClassModel
from gliclass.calibration import calibrated_logits, recentre
from gliclass.example_evidence import EXAMPLE_PRIOR, ExampleEvidence
from gliclass.label_biases import MAX_BIAS, fit_label_biases
from gliclass.labels_apart import LabelInput
from gliclass.pipeline import STREAM_CHUNK_TEXTS
from training.fit_score_calibration import ScoredSet, fit, one_label_calls

LABELS = ["sports", "politics", "business", "science", "music"]
TEXTS = [
    "the team won the championship for the third year",
    "parliament passed the new budget bill on tuesday",
    "stocks fell sharply as markets reacted to the report",
    "scientists discovered a new species in the rainforest",
]
COEFFICIENTS = {"scale": 0.4, "log_softmax": 0.7, "log_num_labels": -0.2, "bias": 1.3}


def test_calibrated_logits_follow_the_formula_keep_the_ranking_and_ignore_padding():
    torch.manual_seed(0)
    logits = torch.randn(6, 5) * 4
    mask = torch.ones(6, 5, dtype=torch.bool)
    mask[:, 3:] = False  # two padded slots
    calibrated = calibrated_logits(logits, mask, COEFFICIENTS)
    real = logits[:, :3]
    expected = 0.4 * real + 0.7 * torch.log_softmax(real, dim=1) - 0.2 * math.log(3) + 1.3
    assert torch.allclose(calibrated[:, :3], expected, atol=1e-5)
    assert torch.equal(calibrated[:, :3].argsort(dim=1), real.argsort(dim=1))
    one = calibrated_logits(torch.tensor([[2.0]]), torch.ones(1, 1, dtype=torch.bool), COEFFICIENTS)
    assert one.item() == pytest.approx(0.4 * 2.0 + 1.3)  # one label: no softmax or count term


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"scale": 1.0}, "each of"),
        ({**COEFFICIENTS, "bias": float("nan")}, "finite"),
        ({**COEFFICIENTS, "scale": -1.0}, "increasing"),
        ({**COEFFICIENTS, "log_softmax": -0.5}, "increasing"),
        ({**COEFFICIENTS, "scale": "1"}, "number"),
    ],
)
def test_a_bad_score_calibration_is_refused(make_embedder, bad, message):
    with pytest.raises(ValueError, match=message):
        make_embedder(score_calibration=bad)


def test_a_bad_label_bias_is_refused(make_embedder):
    with pytest.raises(ValueError, match="label_biases"):
        make_embedder(label_biases={"sports": "high"})
    with pytest.raises(ValueError, match="finite"):
        make_embedder(label_biases={"sports": float("inf")})


def test_score_calibration_is_applied_by_the_model_saved_and_loaded(make_embedder, tmp_path):
    plain = make_embedder(logit_scale_init_value=10.0, logit_bias_init_value=-1.0)
    calibrated = make_embedder(logit_scale_init_value=10.0, logit_bias_init_value=-1.0, score_calibration=COEFFICIENTS)
    raw = gliclass.pipeline(model=plain, device="cpu").score_texts(TEXTS, LABELS)
    scores = gliclass.pipeline(model=calibrated, device="cpu").score_texts(TEXTS, LABELS)
    expected = torch.sigmoid(calibrated_logits(torch.logit(raw), torch.ones_like(raw, dtype=torch.bool), COEFFICIENTS))
    assert torch.allclose(scores, expected, atol=1e-5)
    assert torch.equal(scores.argsort(dim=1), raw.argsort(dim=1))
    calibrated.save_pretrained(tmp_path / "model")
    reloaded = GLiClassModel.from_pretrained(tmp_path / "model")
    assert reloaded.config.score_calibration == pytest.approx(COEFFICIENTS)
    again = gliclass.pipeline(model=reloaded, device="cpu").score_texts(TEXTS, LABELS)
    assert torch.allclose(again, scores, atol=1e-6)


def test_fitting_score_calibration_weighs_a_multi_label_set_as_asked():
    """A multi-label set weighing 2 in the fit is the same fit as that set given twice; and the weight matters."""
    generator = torch.Generator().manual_seed(0)

    def scored(name: str, multi_label: bool, labels: int) -> ScoredSet:
        logits = torch.randn(40, labels, generator=generator) * 3
        truth = logits + torch.randn(40, labels, generator=generator) * 2 > (0.5 if multi_label else 2.5)
        return ScoredSet(name, logits, truth, multi_label, torch.zeros(40))

    single, multi = scored("single", False, 3), scored("multi", True, 8)
    weighted = fit([single, multi], pos_weight=2.0, multi_label_weight=2.0)
    repeated = fit([single, multi, multi], pos_weight=2.0)
    assert weighted == pytest.approx(repeated, abs=1e-3)
    assert fit([single, multi], pos_weight=2.0) != pytest.approx(weighted, abs=1e-3)


def test_one_label_calls_count_each_text_s_true_and_wrong_label_alone_and_beside_other():
    logits = torch.tensor([[2.0, -1.0, -4.0], [-3.0, 1.0, -0.2]])
    truth = torch.tensor([[True, False, False], [False, True, False]])
    scored = ScoredSet("set", logits, truth, False, contrast=torch.tensor([1.0, 0.9]))
    raw = one_label_calls(scored, None)  # uncalibrated: alone or not, a logit >= 0 is a yes
    assert raw["one_label_alone_true_at_0.5"] == raw["one_label_with_other_true_at_0.5"] == 1.0
    assert raw["one_label_alone_wrong_at_0.5"] == raw["one_label_with_other_wrong_at_0.5"] == 0.0
    relative = {"scale": 0.0, "log_softmax": 1.0, "log_num_labels": 0.0, "bias": 0.5}  # yes when 0.54 above "other"
    shares = one_label_calls(scored, relative)
    assert shares["one_label_alone_true_at_0.5"] == shares["one_label_alone_wrong_at_0.5"] == 1.0  # alone: always
    assert shares["one_label_with_other_true_at_0.5"] == 0.5  # 2 - 1 >= 0.54, 1 - 0.9 < 0.54
    assert shares["one_label_with_other_wrong_at_0.5"] == 0.0


def test_fit_label_biases_moves_half_to_the_best_threshold():
    logits = torch.tensor([[2.0, 0.9], [1.0, 0.8], [-1.0, 1.5], [-3.0, -2.0]])
    truth = torch.tensor([[True, False], [True, False], [False, True], [False, False]])
    offsets = fit_label_biases(logits, truth, ["a", "b"])
    assert offsets["a"] == 0.0  # already separated at 0: kept
    assert offsets["b"] == pytest.approx(-(0.9 + 1.5) / 2)  # 0.5 moves between the negatives and the positive
    assert fit_label_biases(logits, torch.zeros_like(truth), ["a", "b"]) == {}  # no positives: nothing moves


def test_calibrate_fits_per_label_biases_that_the_pipeline_uses_and_saves(make_embedder, tmp_path):
    model = make_embedder(logit_scale_init_value=10.0, logit_bias_init_value=-1.0)
    clf = gliclass.pipeline(model=model, device="cpu")
    examples = [{"text": text, "labels": [label]} for text, label in zip(TEXTS, LABELS)]
    before = clf.score_texts(TEXTS, LABELS[:4])
    offsets = gliclass.calibrate(clf, examples, labels=LABELS[:4])
    assert set(offsets) == set(LABELS[:4]) and model.config.label_biases == pytest.approx(offsets)
    after = clf.score_texts(TEXTS, LABELS[:4])
    shift = torch.tensor([offsets[label] for label in LABELS[:4]])
    assert torch.allclose(torch.logit(after), torch.logit(before) + shift, atol=1e-4)
    truth = torch.eye(4, dtype=torch.bool)
    f1_before, f1_after = (_label_f1(scores >= 0.5, truth) for scores in (before, after))
    assert (f1_after >= f1_before).all() and f1_after.mean() > f1_before.mean()  # each label's best threshold
    model.save_pretrained(tmp_path / "model")
    assert GLiClassModel.from_pretrained(tmp_path / "model").config.label_biases == pytest.approx(offsets)
    result = clf(TEXTS[0], candidate_labels=["music", "sports"])  # a label without a bias is unchanged
    plain = gliclass.pipeline(model=make_embedder(logit_scale_init_value=10.0, logit_bias_init_value=-1.0))
    expected = plain(TEXTS[0], candidate_labels=["music", "sports"])
    assert dict(zip(result["labels"], result["scores"]))["music"] == pytest.approx(
        expected["scores"][expected["labels"].index("music")]
    )


def test_calibrating_again_keeps_each_offset_within_max_bias(make_embedder):
    """Offsets fitted again are added to those fitted before; their sum stays within +-MAX_BIAS, so
    calibrating on the same examples again and again never silences (or forces) a label for good."""
    model = make_embedder(logit_scale_init_value=10.0, logit_bias_init_value=-30.0)  # positives far below 0.5
    clf = gliclass.pipeline(model=model, device="cpu")
    examples = [{"text": text, "labels": [label]} for text, label in zip(TEXTS, LABELS)]
    first = gliclass.calibrate(clf, examples, labels=LABELS[:4])
    assert max(first.values()) == MAX_BIAS  # the fit reaches the limit
    for _ in range(2):
        before = dict(model.config.label_biases)
        again = gliclass.calibrate(clf, examples, labels=LABELS[:4])
        assert all(abs(bias) <= MAX_BIAS for bias in model.config.label_biases.values())
        assert model.config.label_biases == pytest.approx({label: before[label] + again[label] for label in before})


def test_calibrate_refuses_bad_examples(make_embedder):
    model = make_embedder()
    with pytest.raises(ValueError, match="no examples"):
        gliclass.calibrate(model, [])
    with pytest.raises(ValueError, match="not in labels"):
        gliclass.calibrate(model, [{"text": "a text", "labels": ["sports"]}], labels=["music"])
    with pytest.raises(TypeError, match="GLiClassModel"):
        gliclass.calibrate("a path", [{"text": "a text", "labels": ["sports"]}])
    for option, value in (("multi_label", False), ("threshold", 0.5), ("top_k", 1), ("shortlist", 2)):
        with pytest.raises(TypeError, match=f"independent \\(sigmoid\\) score; {option} does not apply"):
            gliclass.calibrate(model, [{"text": "a text", "labels": ["sports"]}], **{option: value})
    with pytest.raises(TypeError, match=r"example 0 has no 'labels' \(its keys: text, label\)"):
        gliclass.calibrate(model, [{"text": "a text", "label": "sports"}])  # a column named as datasets often do


def test_calibrate_takes_examples_as_finetune_does(make_embedder):
    """A DataFrame (label lists as NumPy arrays, as read from Parquet), a generator, a `datasets.Dataset`,
    and labels as one comma-separated string: all give the offsets of the plain list."""
    datasets = pytest.importorskip("datasets")
    pandas = pytest.importorskip("pandas")
    examples = [{"text": text, "labels": [label]} for text, label in zip(TEXTS, LABELS)]
    labels = ", ".join(LABELS[:4])  # split as the pipeline splits it, not into characters
    expected = gliclass.calibrate(make_embedder(), examples, labels=LABELS[:4])
    frame = pandas.DataFrame({"text": TEXTS, "labels": [np.array([label]) for label in LABELS[: len(TEXTS)]]})
    for given in (frame, (example for example in examples), datasets.Dataset.from_list(examples)):
        assert gliclass.calibrate(make_embedder(), given, labels=labels) == pytest.approx(expected)


def test_calibrate_scores_labels_with_their_descriptions(make_embedder):
    """Offsets are fitted on the scores the pipeline gives the labels as given: with their descriptions."""
    clf = gliclass.pipeline(model=make_embedder(logit_scale_init_value=10.0, logit_bias_init_value=-1.0))
    described = {label: f"texts about {other}" for label, other in zip(LABELS[:4], reversed(LABELS[:4]))}
    examples = [{"text": text, "labels": [label]} for text, label in zip(TEXTS, LABELS)]
    logits = torch.logit(clf.score_texts(TEXTS, described).double())
    expected = fit_label_biases(logits, torch.eye(4, dtype=torch.bool), LABELS[:4])
    bare = fit_label_biases(
        torch.logit(clf.score_texts(TEXTS, LABELS[:4]).double()), torch.eye(4, dtype=torch.bool), LABELS[:4]
    )
    assert expected != pytest.approx(bare)  # the descriptions matter here
    assert gliclass.calibrate(clf, examples, labels=described) == pytest.approx(expected)
    with pytest.raises(ValueError, match="one label set for all examples"):
        gliclass.calibrate(clf, examples, labels=[LABELS[:4], LABELS[1:]])


def test_calibrate_scores_with_the_few_shot_examples_the_pipeline_will_be_called_with(make_embedder):
    """`few_shot_examples` are the call's `examples=` (the first argument holds the examples to fit on)."""
    clf = gliclass.pipeline(model=make_embedder(logit_scale_init_value=10.0, logit_bias_init_value=-1.0))
    examples = [{"text": text, "labels": [label]} for text, label in zip(TEXTS, LABELS)]
    few_shot = [{"text": "a new text about the first label", "labels": [LABELS[0]]}, {"text": "other", "labels": []}]
    logits = torch.logit(clf.score_texts(TEXTS, LABELS[:4], examples=few_shot).double())
    expected = fit_label_biases(logits, torch.eye(4, dtype=torch.bool), LABELS[:4])
    plain = fit_label_biases(
        torch.logit(clf.score_texts(TEXTS, LABELS[:4]).double()), torch.eye(4, dtype=torch.bool), LABELS[:4]
    )
    assert expected != pytest.approx(plain)  # the few-shot examples move the scores here
    assert gliclass.calibrate(clf, examples, labels=LABELS[:4], few_shot_examples=few_shot) == pytest.approx(expected)


def test_recentre_equalises_label_means_and_needs_two_texts():
    logits = [torch.tensor([3.0, 0.0]), torch.tensor([5.0, 1.0]), torch.tensor([4.0])]
    labels = [["a", "b"], ["a", "b"], ["a"]]
    moved = recentre(logits, labels)
    a = [moved[0][0], moved[1][0], moved[2][0]]
    b = [moved[0][1], moved[1][1]]
    overall = (3 + 0 + 5 + 1 + 4) / 5
    assert sum(a) / 3 == pytest.approx(overall) and sum(b) / 2 == pytest.approx(overall)
    assert moved[1][0] - moved[0][0] == pytest.approx(2.0)  # within a label, differences are kept
    with pytest.raises(ValueError, match="at least 2"):
        recentre(logits[:1], labels[:1])


def test_recentre_leaves_a_label_of_one_text_alone():
    """Re-centred over its one text, such a label would get the overall mean: the same score for every one."""
    logits = [torch.tensor([3.0, 0.0, -2.0]), torch.tensor([5.0, 1.0])]
    moved = recentre(logits, [["a", "b", "c"], ["a", "d"]])
    overall = (3 + 0 - 2 + 5 + 1) / 5
    assert moved[0][0] + moved[1][0] == pytest.approx(2 * overall)
    assert moved[0][1:].tolist() == [0.0, -2.0] and moved[1][1].item() == 1.0


def test_transductive_is_opt_in_and_refused_for_one_text(make_embedder):
    clf = gliclass.pipeline(model=make_embedder(logit_scale_init_value=10.0), device="cpu")
    plain, default = clf(TEXTS, candidate_labels=LABELS), clf(TEXTS, candidate_labels=LABELS, transductive=False)
    assert plain == default
    moved = clf(TEXTS, candidate_labels=LABELS, transductive=True)
    logits = [
        torch.logit(torch.tensor([dict(zip(r["labels"], r["scores"]))[label] for label in LABELS])) for r in plain
    ]
    expected = recentre(logits, [LABELS] * len(TEXTS))
    for result, row in zip(moved, expected):
        scores = dict(zip(result["labels"], result["scores"]))
        assert [scores[label] for label in LABELS] == pytest.approx(torch.sigmoid(row).tolist(), abs=1e-5)
    with pytest.raises(ValueError, match="at least 2"):
        clf(TEXTS[0], candidate_labels=LABELS, transductive=True)
    with pytest.raises(TypeError, match="transductive"):
        clf(TEXTS, candidate_labels=LABELS, transductive="yes")


def test_transductive_keeps_label_biases_and_a_stream_never_ends_on_a_lone_text(make_embedder):
    clf = gliclass.pipeline(model=make_embedder(logit_scale_init_value=10.0), device="cpu")

    def logits(**options) -> torch.Tensor:
        return torch.logit(clf.score_texts(TEXTS, candidate_labels=LABELS, transductive=True, **options).double())

    plain = logits()
    clf.model.config.label_biases = {"sports": 3.0, "politics": -3.0}
    shift = logits() - plain  # re-centred first, then the fitted biases: they are not cancelled
    assert shift[:, 0].tolist() == pytest.approx([3.0] * len(TEXTS), abs=1e-2)
    assert shift[:, 1].tolist() == pytest.approx([-3.0] * len(TEXTS), abs=1e-2)
    assert shift[:, 2:].abs().max() < 1e-2
    clf.model.config.label_biases = {}
    texts = [TEXTS[index % len(TEXTS)] + f" ({index})" for index in range(STREAM_CHUNK_TEXTS + 1)]
    streamed = list(clf((text for text in texts), candidate_labels=LABELS, transductive=True, batch_size=64))
    assert [result["sequence"] for result in streamed] == texts  # the last text joins the chunk before it
    assert streamed == clf(texts, candidate_labels=LABELS, transductive=True, batch_size=64)


def test_transductive_stream_chunks_do_not_depend_on_batch_size(make_embedder):
    """A re-centred stream is cut into chunks of STREAM_CHUNK_TEXTS texts even when batch_size is larger."""
    clf = gliclass.pipeline(model=make_embedder(), device="cpu")
    texts = [TEXTS[index % len(TEXTS)] + f" ({index})" for index in range(STREAM_CHUNK_TEXTS + 2)]
    small, large = (
        list(clf((text for text in texts), candidate_labels=LABELS, transductive=True, batch_size=size))
        for size in (64, len(texts))
    )
    assert [result["labels"] for result in large] == [result["labels"] for result in small]
    scores = [[score for result in results for score in result["scores"]] for results in (small, large)]
    assert scores[1] == pytest.approx(scores[0], abs=1e-6)


def test_examples_are_label_evidence_when_labels_are_encoded_apart(make_embedder):
    model = make_embedder(logit_scale_init_value=10.0)
    clf = gliclass.pipeline(model=model, device="cpu")
    examples = [
        {"text": "parliament passed the new budget bill on tuesday", "labels": ["politics"]},
        {"text": "the team won the championship for the third year", "labels": ["sports"]},
    ]
    rows = clf.preprocess([TEXTS[2]], LABELS, examples=examples)["rows"]
    assert rows == clf.preprocess([TEXTS[2]], LABELS)["rows"]  # the scored text is not changed

    # raw logits (scores near 0 or 1 would hide a small move): only the labels with examples move
    def logits(texts: list[str], examples: list[dict] | None = None) -> list[list[float]]:
        return [row.tolist() for row in clf.forward(clf.preprocess(texts, LABELS, examples=examples))["logits"]]

    plain = logits(TEXTS)
    for before, after in zip(plain, logits(TEXTS, examples)):
        moved = [label for label, b, a in zip(LABELS, before, after) if a != pytest.approx(b, abs=1e-6)]
        assert moved == ["sports", "politics"]
    # each example's own text moves towards its label, relative to the other example's label
    for example, other in (examples, examples[::-1]):
        own, rival = LABELS.index(example["labels"][0]), LABELS.index(other["labels"][0])
        [alone], [helped] = logits([example["text"]]), logits([example["text"]], examples)
        assert helped[own] - helped[rival] > alone[own] - alone[rival]
    # one label's examples alone give no contrast, an example without labels no evidence: nothing moves
    assert logits(TEXTS, examples[:1]) == plain
    assert logits(TEXTS, [{"text": "nothing here", "labels": []}]) == plain
    # the call path gives the same scores as those logits
    result = clf(TEXTS[0], candidate_labels=LABELS, examples=examples)
    scores = dict(zip(result["labels"], result["scores"]))
    expected = torch.sigmoid(torch.tensor(logits(TEXTS[:1], examples)[0])).tolist()
    assert [scores[label] for label in LABELS] == pytest.approx(expected, abs=1e-6)
    # labels filled into a hypothesis_template still take their examples' evidence
    template = "This text is about {}."
    bare = clf.score_texts(TEXTS, candidate_labels=LABELS, hypothesis_template=template)
    helped = clf.score_texts(TEXTS, candidate_labels=LABELS, hypothesis_template=template, examples=examples)
    changed = (helped - bare).abs().amax(dim=0) > 1e-6
    assert changed.tolist() == [True, True, False, False, False]


def test_example_evidence_is_centred_and_one_example_moves_a_label_less_than_many():
    """The move keeps the logits of the examples' mean vector; n examples move a label by
    weight * n / (n + EXAMPLE_PRIOR) of their contrast, an example of two labels counting half for each."""
    labels = [LabelInput("a", (1,), 1), LabelInput("b", (2,), 1), LabelInput("c", (3,), 1)]
    vectors = [torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0]), torch.tensor([0.0, 0.0, 1.0])]
    examples = torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 2.0]])
    # example 0 names "a" alone, example 2 names "c" and another label, example 3 names "c" alone
    evidence = ExampleEvidence(rows=[], examples_of={"a": [0], "c": [2, 3]}, shares=[1.0, 1.0, 0.5, 1.0], weight=2.0)
    moved = evidence.moved(vectors, labels, examples)
    mean = examples.mean(0)
    assert torch.allclose(moved[0], vectors[0] + 2.0 * 1 / (1 + EXAMPLE_PRIOR) * (examples[0] - mean))
    assert torch.equal(moved[1], vectors[1])  # no examples: not moved
    weighted_mean = (0.5 * examples[2] + examples[3]) / 1.5
    assert torch.allclose(moved[2], vectors[2] + 2.0 * 1.5 / (1.5 + EXAMPLE_PRIOR) * (weighted_mean - mean))

    def dot(text: torch.Tensor, label_vectors: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bd,bld->bl", text, label_vectors)

    texts = torch.stack([mean, torch.tensor([3.0, -1.0, 0.5])])
    table, moved_table = torch.stack(vectors).expand(2, -1, -1), torch.stack(moved).expand(2, -1, -1)
    mask = torch.ones(2, 3, dtype=torch.bool)
    logits = ExampleEvidence.centred_logits(dot, texts, table, moved_table, mask, examples)
    assert torch.allclose(logits[0], dot(texts, table, mask)[0])  # the mean example keeps its logits
    shift = dot(texts, moved_table, mask)[1] - dot(texts, table, mask)[1]
    centre_shift = dot(texts, moved_table, mask)[0] - dot(texts, table, mask)[0]
    assert torch.allclose(logits[1], dot(texts, table, mask)[1] + shift - centre_shift)
    assert not torch.allclose(logits[1], dot(texts, table, mask)[1])


def test_examples_per_text_are_refused_by_name(make_embedder):
    clf = gliclass.pipeline(model=make_embedder(), device="cpu")
    per_text = [[{"text": TEXTS[1], "labels": ["politics"]}], [{"text": TEXTS[0], "labels": ["sports"]}]]
    with pytest.raises(TypeError, match="example 0 is a list: examples is one list of .* for all texts"):
        clf(TEXTS[:2], candidate_labels=LABELS, examples=per_text)


def test_a_joint_model_keeps_the_reference_example_format(make_model):
    clf = gliclass.pipeline(model=make_model(), device="cpu")
    example = {"text": "a draw", "labels": ["sports"]}
    [row] = clf.preprocess([TEXTS[0]], LABELS, examples=[example])["rows"]
    assert len(row.input_ids) > len(clf.preprocess([TEXTS[0]], LABELS)["rows"][0].input_ids)


def _label_f1(predicted: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    true_positive = (predicted & truth).sum(0).float()
    return 2 * true_positive / (predicted.sum(0) + truth.sum(0)).clamp(min=1)
