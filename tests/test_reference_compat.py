"""Checkpoints of the reference `gliclass` package load here and give its scores, and back.

Fixtures under tests/fixtures/reference were made by tests/fixtures/make_reference_fixtures.py
with gliclass==0.1.21 in a separate venv. The reverse direction runs the reference package
through `$GLICLASS_REFERENCE_PYTHON` (set by .ci/run); without it that test is skipped.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch
from transformers import AutoModel

import gliclass
from gliclass import GLiClassModel

FIXTURES = Path(__file__).parent / "fixtures"
CASES = sorted(p for p in (FIXTURES / "reference").iterdir() if (p / "expected.json").is_file())
REFERENCE_PYTHON = os.environ.get("GLICLASS_REFERENCE_PYTHON")


def assert_logits_close(ours: torch.Tensor, expected: list[float]) -> None:
    expected_tensor = torch.tensor(expected)
    scale = max(1.0, expected_tensor.abs().max().item())
    torch.testing.assert_close(ours, expected_tensor, rtol=1e-4, atol=1e-4 * scale)
    assert (torch.sigmoid(ours) - torch.sigmoid(expected_tensor)).abs().max() <= 1e-4


def test_there_are_fixtures_for_every_required_option():
    options = [json.loads((case / "expected.json").read_text())["options"] for case in CASES]
    seen = lambda key: {o.get(key) for o in options}  # noqa: E731
    assert {"first", "avg", "max"} <= seen("pooling_strategy")
    assert {"first", "average"} <= seen("class_token_pooling")
    assert {"simple", "mlp", "weighted-dot"} <= seen("scorer_type")
    assert {True, False} <= seen("prompt_first") and True in seen("normalize_features")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_reference_checkpoint_gives_reference_logits(case):
    expected = json.loads((case / "expected.json").read_text())
    model = AutoModel.from_pretrained(case).eval()
    assert isinstance(model, GLiClassModel)
    clf = gliclass.pipeline(model=model, device="cpu")
    for item in expected["items"]:
        [row] = clf.preprocess([item["text"]], item["labels"], item["prompt"], item["examples"])["rows"]
        assert row.input_ids == item["input_ids"]
        ids = torch.tensor([row.input_ids])
        with torch.inference_mode():
            assert_logits_close(model(ids).logits[0], item["logits"])
        with torch.enable_grad():  # the full forward path as well as the shortcut
            assert_logits_close(model(ids).logits[0].detach(), item["logits"])
        result = clf(item["text"], candidate_labels=item["labels"], prompt=item["prompt"], examples=item["examples"])
        scores = dict(zip(result["labels"], result["scores"]))
        expected_scores = torch.sigmoid(torch.tensor(item["logits"])).tolist()
        assert [scores[label] for label in item["labels"]] == pytest.approx(expected_scores, abs=1e-4)


@pytest.mark.skipif(not REFERENCE_PYTHON, reason="set GLICLASS_REFERENCE_PYTHON to a python with gliclass==0.1.21")
@pytest.mark.parametrize(
    "options",
    [
        dict(pooling_strategy="first", class_token_pooling="first", scorer_type="simple"),
        dict(pooling_strategy="avg", class_token_pooling="average", scorer_type="mlp", prompt_first=False),
        dict(pooling_strategy="max", class_token_pooling="first", scorer_type="weighted-dot", normalize_features=True),
    ],
)
def test_our_checkpoints_load_in_the_reference_package(make_model, tmp_path, options):
    model = make_model(**options)
    model.save_pretrained(tmp_path / "model")
    items = [
        {"text": "the team won the match", "labels": ["sports", "politics"], "prompt": None, "examples": None},
        {"text": "stocks fell", "labels": ["business", "world", "science"], "prompt": "Topic:", "examples": None},
    ]
    (tmp_path / "items.json").write_text(json.dumps({"items": items}))
    script = FIXTURES / "reference_scores.py"
    out = subprocess.run(
        [REFERENCE_PYTHON, "-I", str(script), str(tmp_path / "model"), str(tmp_path / "items.json")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    reference = json.loads(out.stdout)["items"]
    clf = gliclass.pipeline(model=model, device="cpu")
    for item, theirs in zip(items, reference):
        [row] = clf.preprocess([item["text"]], item["labels"], item["prompt"], item["examples"])["rows"]
        assert row.input_ids == theirs["input_ids"]
        with torch.inference_mode():
            assert_logits_close(model(torch.tensor([row.input_ids])).logits[0], theirs["logits"])
