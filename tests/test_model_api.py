"""The CLIP-style model API (README "The model, CLIP style") gives the pipeline's scores."""

import re
from pathlib import Path

import pytest
import torch

import gliclass

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_feature_example_matches_the_pipeline():
    section = README.read_text().split("### The model, CLIP style", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    texts = ["The team won the championship final last night.", "Stocks fell after the central bank raised rates."]
    labels = ["sports", "business", "politics"]
    scope = {"texts": texts, "labels": labels}
    exec(code, scope)  # the README's own example, as written
    results = gliclass.pipeline(model=scope["model"], device="cpu")(texts, candidate_labels=labels)
    for row, result in zip(torch.sigmoid(scope["logits"]), results):
        scores = dict(zip(result["labels"], result["scores"]))
        assert row.tolist() == pytest.approx([scores[label] for label in labels], abs=1e-5)


def test_feature_methods_refuse_models_that_read_labels_with_the_text(make_model):
    model = make_model()
    assert not model.encodes_labels_apart
    ids = torch.tensor([[2, 5, 3]])
    with pytest.raises(ValueError, match="encoded together"):
        model.get_text_features(ids, torch.ones_like(ids))
    with pytest.raises(ValueError, match="encoded together"):
        model.get_label_features(ids, torch.ones_like(ids))


def test_feature_methods_refuse_rows_they_would_misread(make_embedder):
    model = make_embedder()
    config = model.config
    plain = torch.tensor([[2, 5, 6, 3], [2, 7, 8, 3]])  # tokenizer rows: no <<SEP>>, no <<LABEL>>
    with pytest.raises(ValueError, match="text row 0 has no <<SEP>>"):  # was one same vector for every text
        model.get_text_features(plain, torch.ones_like(plain))
    two_labels = torch.tensor([[config.class_token_index, 5, config.class_token_index, 6]])
    for rows, count in ((plain, 0), (two_labels, 2)):
        with pytest.raises(ValueError, match=f"label row 0 holds {count} <<LABEL>> tokens"):
            model.get_label_features(rows, torch.ones_like(rows))
    empty = torch.zeros(0, 0, dtype=torch.long)
    for method in (model.get_text_features, model.get_label_features):
        with pytest.raises(ValueError, match="at least one row"):
            method(empty, empty)
        with pytest.raises(ValueError, match=r"got \(4,\)"):
            method(plain[0], plain[0])


def test_score_names_the_shapes_it_takes(make_embedder):
    model = make_embedder()
    texts, labels, mask = torch.randn(2, 64), torch.randn(3, 64), torch.ones(2, 3, dtype=torch.bool)
    assert model.score(texts, labels.expand(2, -1, -1), mask).shape == (2, 3)
    with pytest.raises(ValueError, match=r"label vectors \(batch, labels, dim\).*got \(2, 64\), \(3, 64\)"):
        model.score(texts, labels, mask)  # shared label vectors, not expanded
    with pytest.raises(ValueError, match="label_mask"):
        model.score(texts, labels.expand(2, -1, -1), mask[:, :2])
