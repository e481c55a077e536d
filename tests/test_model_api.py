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
