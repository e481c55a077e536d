import pytest
import torch
from transformers import AutoModel, AutoModelForSequenceClassification

from gliclass.data import Example, LabelledSet
from training import Trainer, TrainingArguments
from training.baselines import BiEncoderBaseline, CrossEncoderBaseline
from training.batches import FixedCandidatesSet
from training.evaluation import evaluate_set

TEXTS = ["the team won the match", "stocks fell sharply", "the championship final", "the central bank raised rates"]
GOLD = [["sports"], ["business"], ["sports"], ["business"]]
LABELS = ["sports", "business", "politics"]


@pytest.mark.parametrize("kind", [CrossEncoderBaseline, BiEncoderBaseline])
def test_baseline_trains_with_the_same_trainer_and_saves_a_plain_model(kind, backbone_dir, tmp_path):
    torch.manual_seed(0)
    model = kind(str(backbone_dir), max_length=64)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    args = TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=4,
        batch_size=2,
        progress=False,
        head_lr=1e-3,
        encoder_lr=1e-3,
        warmup_ratio=0,
    )
    labelled = LabelledSet("toy", [Example(t, {g[0]: 1.0}) for t, g in zip(TEXTS, GOLD)], LABELS)
    trained = Trainer(
        model, args, FixedCandidatesSet(TEXTS, GOLD, LABELS, shuffle_seed=0), eval_sets=[labelled]
    ).train()
    assert any(not torch.equal(before[k], v) for k, v in trained.state_dict().items())
    scores = trained.score(TEXTS, LABELS)
    assert scores.shape == (4, 3) and bool(((scores >= 0) & (scores <= 1)).all())
    metrics = evaluate_set(trained, labelled)
    assert 0 <= metrics["macro_f1"] <= 1
    assert (tmp_path / "metrics.jsonl").read_text().count('"eval"') == 1
    if kind is CrossEncoderBaseline:
        saved = AutoModelForSequenceClassification.from_pretrained(tmp_path / "final")
        assert saved.config.id2label == {0: "entailment"}
    else:
        assert AutoModel.from_pretrained(tmp_path / "final").config.hidden_size == 32


def test_cross_encoder_reads_every_pair_and_bi_encoder_masks_foreign_labels(backbone_dir):
    cross = CrossEncoderBaseline(str(backbone_dir))
    batch = cross.collate([("a b", ["x", "y"], [1.0, 0.0]), ("c", ["z"], [0.0])])
    assert batch["input_ids"].shape[0] == 3 and batch["labels"].tolist() == [1.0, 0.0, 0.0]
    bi = BiEncoderBaseline(str(backbone_dir))
    batch = bi.collate([("a b", ["x", "y"], [1.0, 0.0]), ("c", ["y", "z"], [0.0, 1.0])])
    assert batch["label_mask"].tolist() == [[True, True, False], [False, True, True]]
    assert batch["labels"].tolist() == [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]


@pytest.mark.parametrize("kind", [CrossEncoderBaseline, BiEncoderBaseline])
def test_a_gliclass_checkpoint_is_refused_as_a_baseline_model(kind, make_model, tmp_path):
    make_model().save_pretrained(tmp_path / "gliclass")
    with pytest.raises(ValueError, match="is a GLiClass checkpoint; the .* baseline takes a plain transformers model"):
        kind(str(tmp_path / "gliclass"))
