"""Segment-isolated attention and the embedder start: exact equivalences on a tiny BERT."""

from __future__ import annotations

import pytest
import torch

from gliclass import GLiClassModel, PromptEncoder
from gliclass.segment_attention import segment_ids, segment_position_ids


def _new_model(backbone_dir, **options) -> GLiClassModel:
    torch.manual_seed(0)
    return GLiClassModel.from_backbone(str(backbone_dir), **options).eval()


def _features(model: GLiClassModel, text: str, labels: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    row = PromptEncoder(model.tokenizer, prompt_first=True, max_length=128).encode([text], [labels], [""], [""])[0]
    ids = torch.tensor([row.input_ids])
    with torch.no_grad():
        text_vector, label_vectors, _ = model.model.features(ids, torch.ones_like(ids))
    return text_vector[0], label_vectors[0]


def test_segments_and_positions_restart_at_every_marker() -> None:
    ids = torch.tensor([[2, 90, 5, 6, 90, 7, 91, 8, 9, 3, 0]])
    segments = segment_ids(ids, (90, 91, 92))
    assert segments.tolist() == [[0, 1, 1, 1, 2, 2, 3, 3, 3, 3, 3]]
    assert segment_position_ids(segments).tolist() == [[0, 0, 1, 2, 0, 1, 0, 1, 2, 3, 4]]


def test_fully_isolated_label_vectors_ignore_text_and_other_labels(backbone_dir) -> None:
    model = _new_model(
        backbone_dir,
        segment_isolated_layers=2,
        pooling_strategy="avg",
        class_token_pooling="average",
        extract_text_features=True,
    )
    text_a, labels_a = _features(model, "the team won the match", ["sports", "politics"])
    text_b, labels_b = _features(model, "stocks fell sharply", ["music", "sports", "science"])
    torch.testing.assert_close(labels_a[0], labels_b[1], rtol=1e-5, atol=1e-6)
    _, labels_c = _features(model, "the team won the match", ["sports"])
    torch.testing.assert_close(text_a, _features(model, "the team won the match", ["health"])[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(labels_a[0], labels_c[0], rtol=1e-5, atol=1e-6)


def test_partly_isolated_layers_let_the_top_layers_mix(backbone_dir) -> None:
    model = _new_model(
        backbone_dir,
        segment_isolated_layers=1,
        pooling_strategy="avg",
        class_token_pooling="average",
        extract_text_features=True,
    )
    _, labels_a = _features(model, "the team won the match", ["sports", "politics"])
    _, labels_b = _features(model, "stocks fell sharply", ["sports", "politics"])
    assert not torch.allclose(labels_a[0], labels_b[0], atol=1e-4)


def test_embedder_start_scores_by_cosine_of_separately_encoded_segments(backbone_dir, make_embedder) -> None:
    model = make_embedder(logit_scale_init_value=10.0)
    tokenizer, encoder = model.tokenizer, model.model.encoder_model
    for projector in (model.model.text_projector, model.model.classes_projector):
        x = torch.randn(5, 32)
        torch.testing.assert_close(projector(x), x, rtol=1e-5, atol=1e-5)

    def mean_state(ids: list[int]) -> torch.Tensor:
        with torch.no_grad():
            return encoder(input_ids=torch.tensor([ids])).last_hidden_state[0].mean(0)

    text, labels = "the team won the match", ["sports", "stocks and markets"]
    label_id, sep_id = model.config.class_token_index, model.config.text_token_index
    text_vector = mean_state(
        [sep_id] + tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.sep_token_id]
    )
    expected = (
        torch.stack(
            [
                torch.cosine_similarity(
                    text_vector, mean_state([label_id] + tokenizer(label, add_special_tokens=False)["input_ids"]), 0
                )
                for label in labels
            ]
        )
        * 10.0
    )
    ids = torch.tensor([PromptEncoder(tokenizer, True, 128).encode([text], [labels], [""], [""])[0].input_ids])
    with torch.no_grad():
        logits = model(ids).logits[0]
    torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-4)
    cls_embedding = encoder.get_input_embeddings().weight[tokenizer.cls_token_id]
    torch.testing.assert_close(encoder.get_input_embeddings().weight[label_id], cls_embedding)


def test_isolation_survives_save_and_load(backbone_dir, tmp_path, make_embedder) -> None:
    model = make_embedder(logit_scale_init_value=10.0)
    model.save_pretrained(tmp_path)
    loaded = GLiClassModel.from_pretrained(tmp_path).eval()
    assert loaded.config.segment_isolated_layers == 2
    ids = torch.tensor(
        [
            PromptEncoder(model.tokenizer, True, 128)
            .encode(["a new chip"], [["technology", "music"]], [""], [""])[0]
            .input_ids
        ]
    )
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids).logits, model(ids).logits)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(segment_isolated_layers=3), "segment_isolated_layers=3"),
        (dict(segment_isolated_layers=-1), "segment_isolated_layers=-1"),
        (dict(segment_isolated_layers=True), "segment_isolated_layers=True"),  # was taken as 1 layer
        (dict(segment_isolated_layers=0.0), "segment_isolated_layers=0.0"),
        (dict(segment_isolated_layers=1, prompt_first=False), "prompt_first=True"),
        (dict(start_as_embedder=True, normalize_features=True), "hidden_size >= 64"),
        (dict(start_as_embedder=True, scorer_type="mlp"), "scorer_type='simple'"),
        (dict(start_as_embedder=True, hidden_size=64, projector_hidden_act="tanh"), "act\\(x\\) - act\\(-x\\) = x"),
    ],
)
def test_bad_isolation_or_embedder_options_are_named(backbone_dir, options, message) -> None:
    with pytest.raises(ValueError, match=message):
        GLiClassModel.from_backbone(str(backbone_dir), **options)


def test_pipeline_encodes_labels_and_texts_apart_with_the_same_scores(backbone_dir, make_embedder) -> None:
    import gliclass

    model = make_embedder(logit_scale_init_value=10.0, logit_bias_init_value=-1.0)
    assert model.encodes_labels_apart
    texts = ["the team won the match", "stocks fell sharply as markets reacted to the report " * 6, "a new phone"]
    labels = ["sports", "business", "science", "music", "health", "politics", "technology", "world"]
    labels += [f"topic {number}" for number in range(12)]
    calls = [
        dict(candidate_labels=labels),
        dict(candidate_labels=[labels[:2], labels[2:5], labels], multi_label=False),
        dict(candidate_labels={"sports": "games and matches", "business": None}, prompt="topic:"),
        dict(candidate_labels=labels, windows=True),
    ]
    options = dict(model=model, device="cpu", min_text_tokens=8, window_overlap=4)
    apart, joint = gliclass.pipeline(**options), gliclass.pipeline(**options, encode_labels_apart=False)
    fitting = texts[::2]  # texts that fit beside the labels: joint rows cut the long one
    calls[1]["candidate_labels"] = calls[1]["candidate_labels"][::2]
    for call in calls:
        for a, b in zip(apart(fitting, **call), joint(fitting, **call)):
            assert a["labels"] == b["labels"]
            assert a["scores"] == pytest.approx(b["scores"], abs=1e-5)
    # at 40 tokens joint rows split the labels into groups and cut the text; apart, the labels
    # take no room: one row per text (or per window of the text alone), and short texts score the same
    short = dict(options, max_length=40)
    apart, joint = gliclass.pipeline(**short), gliclass.pipeline(**short, encode_labels_apart=False)
    assert len(joint.preprocess(texts, labels)["rows"]) > len(apart.preprocess(texts, labels)["rows"]) == len(texts)
    windows = apart.preprocess(texts, labels, windows=True)["rows"]
    assert len(windows) > len(texts) and all(len(row.input_ids) <= 40 for row in windows)
    for a, b in zip(apart(texts[::2], candidate_labels=labels), joint(texts[::2], candidate_labels=labels)):
        assert a["labels"] == b["labels"] and a["scores"] == pytest.approx(b["scores"], abs=1e-5)
    with pytest.raises(ValueError, match="encodes labels together"):
        gliclass.pipeline(model=_new_model(backbone_dir), device="cpu", encode_labels_apart=True)


def test_partly_isolated_models_are_not_split(backbone_dir) -> None:
    model = _new_model(backbone_dir, segment_isolated_layers=1, pooling_strategy="avg", extract_text_features=True)
    assert not model.encodes_labels_apart
    assert not _new_model(backbone_dir, segment_isolated_layers=2, pooling_strategy="avg").encodes_labels_apart
