import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import gliclass
from gliclass.data import Example
from gliclass.pipeline import backbone_max_length
from gliclass.prompt import PromptEncoder
from training import (
    CandidateSampler,
    DataError,
    LabelledSet,
    Trainer,
    TrainingArguments,
    ZeroShotTrainingSet,
    finetune,
    load_set,
)
from training.batches import Collator, FixedCandidatesSet, FusedRowsCollator, LabelsApartCollator
from training.engine import (
    STATE_FILE,
    check_resumed_settings,
    resume_checkpoint,
    save_checkpoint,
    save_final_model,
)
from training.finetune import START, chosen_candidate, held_out_metrics, held_out_splits
from training.recipe import load_sets
from training.trainer import batch_loss, fitted_length, gliclass_collator, training_collator

REPO = Path(__file__).resolve().parent.parent


def write_lines(path: Path, lines: list) -> Path:
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


@pytest.mark.parametrize(
    "line, message",
    [
        ({"labels": ["a"]}, "no text"),
        ({"text": "  ", "labels": ["a"]}, "text is empty"),
        ({"text": "x", "labels": ["a", ""]}, "empty label"),
        ({"text": "x", "all_labels": ["a", "b"], "true_labels": ["c"]}, "'c' is not among the candidate labels"),
        ({"text": "x", "all_labels": ["a"], "true_labels": {"a": 1.5}}, r"\[0, 1\]"),
        ({"text": "x", "all_labels": ["a"], "true_labels": {"a": True}}, r"\[0, 1\]"),
        ({"text": "x", "all_labels": ["a"], "true_labels": "a"}, "'true_labels' must be a list"),
        ("{not json", "not valid JSON"),
    ],
)
def test_bad_records_are_reported_with_file_and_line(tmp_path, line, message):
    path = write_lines(tmp_path / "data.jsonl", [{"text": "fine", "labels": ["a"]}, line])
    with pytest.raises(DataError, match=rf"data.jsonl:2: .*{message}"):
        load_set(path)


@pytest.mark.parametrize("content", ["", "\n  \n", "[]", " [ ]\n"])
def test_a_data_file_without_examples_is_refused(tmp_path, content):
    """An empty file used to give an empty set, which training then looped over forever."""
    path = tmp_path / "data.jsonl"
    path.write_text(content)
    with pytest.raises(DataError, match="data.jsonl: no examples"):
        load_set(path)


@pytest.mark.parametrize("weight", [0, -1, 0.0, math.nan, "2", True])
def test_a_set_weight_must_be_a_number_above_zero(tmp_path, weight):
    """A weight of 0 or less gave training no examples; a string failed in round() with a traceback."""
    path = write_lines(tmp_path / "data.jsonl", [{"text": "fine", "labels": ["a"]}])
    with pytest.raises(ValueError, match="weight must be a number above 0"):
        load_set(path, weight=weight)


def test_an_empty_training_set_is_refused_before_the_run_starts(make_model, tmp_path):
    """No step can be taken on an empty loader: the run used to loop forever waiting for one."""
    args = TrainingArguments(output_dir=str(tmp_path / "out"), max_steps=1, progress=False)
    empty = ZeroShotTrainingSet(
        [LabelledSet("toy", [Example("a text", {"a": 1.0})], ["a"], weight=0.1)], CandidateSampler()
    )
    with pytest.raises(ValueError, match="the training set is empty"):
        Trainer(make_model(), args, empty).train()
    assert not (tmp_path / "out").exists()


def test_folder_labels_come_from_meta_and_unknown_true_labels_fail(tmp_path):
    (tmp_path / "meta.json").write_text(json.dumps({"name": "toy", "labels": ["a", "b", "c"], "multi_label": True}))
    write_lines(tmp_path / "train.jsonl", [{"text": "one", "labels": ["a"]}, {"text": "none", "labels": []}])
    toy = load_set(tmp_path)
    assert toy.labels == ["a", "b", "c"] and toy.multi_label and toy.examples[1].targets == {}
    write_lines(tmp_path / "train.jsonl", [{"text": "one", "labels": ["z"]}])
    with pytest.raises(DataError, match="train.jsonl:1: true label 'z'"):
        load_set(tmp_path)


def test_a_reference_record_s_true_labels_must_also_be_among_the_set_s_labels(tmp_path):
    """Its own all_labels let a true label outside meta.json's (or --labels) through, unlocated."""
    (tmp_path / "meta.json").write_text(json.dumps({"labels": ["a", "b"]}))
    write_lines(tmp_path / "train.jsonl", [{"text": "x", "all_labels": ["a", "z"], "true_labels": ["z"]}])
    with pytest.raises(DataError, match="train.jsonl:1: true label 'z' is not among the candidate labels"):
        load_set(tmp_path)


def test_reference_format_with_soft_targets(tmp_path):
    path = write_lines(
        tmp_path / "ref.jsonl", [{"text": "x", "all_labels": ["a", "b", "c"], "true_labels": {"a": 0.7}}]
    )
    [example] = load_set(path).examples
    labels, targets = CandidateSampler().sample(example, ["a", "b", "c"], [], random.Random(0))
    assert sorted(labels) == ["a", "b", "c"] and dict(zip(labels, targets)) == {"a": 0.7, "b": 0.0, "c": 0.0}


def test_candidate_sampler_keeps_positives_and_varies_the_count():
    sampler = CandidateSampler(max_labels=8, min_labels=2, drop_positives=0.0)
    example = Example("x", {"a": 1.0, "b": 1.0})
    own, others = [f"own{i}" for i in range(20)] + ["a", "b"], [f"other{i}" for i in range(20)]
    counts = set()
    for seed in range(50):
        labels, targets = sampler.sample(example, own, others, random.Random(seed))
        assert {"a", "b"} <= set(labels) and len(labels) == len(set(labels)) and 3 <= len(labels) <= 8
        assert [label for label, t in zip(labels, targets) if t] == [label for label in labels if label in "ab"]
        counts.add(len(labels))
        assert (labels, targets) == sampler.sample(example, own, others, random.Random(seed))
    assert len(counts) > 3
    dropped = CandidateSampler(drop_positives=1.0).sample(example, own, others, random.Random(0))
    assert not {"a", "b"} & set(dropped[0]) and not any(dropped[1])


def test_training_set_replays_epochs_and_applies_weights():
    small = LabelledSet("s", [Example(f"s{i}", {"x": 1.0}) for i in range(10)], ["x", "y"], weight=2.0)
    big = LabelledSet("b", [Example(f"b{i}", {"p": 1.0}) for i in range(20)], ["p", "q"], weight=0.5)
    data = ZeroShotTrainingSet([small, big], CandidateSampler(max_labels=4), seed=3)
    assert len(data) == 30
    first = [data[i] for i in range(len(data))]
    data.set_epoch(1)
    assert [data[i] for i in range(len(data))] != first
    data.set_epoch(0)
    assert [data[i] for i in range(len(data))] == first


def test_collator_aligns_targets_with_label_tokens(make_model):
    model = make_model()
    collator = Collator(PromptEncoder(model.tokenizer, True, 128), model.tokenizer.pad_token_id)
    batch = collator(
        [("the team won", ["sports", "politics"], [1.0, 0.0]), ("stocks fell", ["a", "b", "business"], [0, 0, 1.0])]
    )
    assert batch["labels"].tolist() == [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    out = model(**batch)
    assert out.logits.shape == (2, 3) and out.label_mask.tolist() == [[True, True, False], [True, True, True]]


def test_nan_loss_stops_with_a_clear_message(make_model, tmp_path):
    model = make_model()
    with torch.no_grad():
        next(model.model.text_projector.parameters()).fill_(float("nan"))
    data = FixedCandidatesSet(["x", "y"], [["a"], ["b"]], ["a", "b"])
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=2, batch_size=2, progress=False, warmup_ratio=0)
    with pytest.raises(FloatingPointError, match="loss is nan at step"):
        Trainer(model, args, data).train()
    assert resume_checkpoint(tmp_path, False) is None  # nothing logged, no empty log: the folder takes a new run


def test_training_never_reads_eval_sets(tmp_path):
    (tmp_path / "eval" / "x").mkdir(parents=True)
    (tmp_path / "train").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "link").symlink_to(tmp_path / "eval" / "x")
    reached = [
        ("eval/x", tmp_path),  # under the config's data folder
        (str(tmp_path / "eval" / "x"), tmp_path / "elsewhere"),  # absolute, another data folder
        ("x", tmp_path / "eval"),  # the data folder is the eval folder
        ("link", tmp_path / "elsewhere"),  # a link to it
    ]
    for path, data_dir in reached:
        with pytest.raises(ValueError, match="evaluation set"):
            load_sets([{"path": path}], data_dir, for_training=True)


def test_finetune_learns_a_few_examples_and_feeds_the_pipeline(make_model):
    model = make_model(pooling_strategy="avg", class_token_pooling="average")
    examples = [
        {"text": "the team won the match", "labels": ["sports"]},
        {"text": "the championship final was great", "labels": ["sports"]},
        {"text": "stocks fell as markets reacted", "labels": ["business"]},
        {"text": "the central bank raised interest rates", "labels": ["business"]},
    ]
    tuned = finetune(
        model,
        examples,
        labels=["sports", "business"],
        epochs=100,
        batch_size=4,
        encoder_lr=1e-3,
        head_lr=1e-3,
        seed=1,
        select=False,  # learning itself; the held-out choice is tested below
        progress=False,
    )
    clf = gliclass.pipeline(model=tuned, device="cpu")
    predictions = [r["labels"][0] for r in clf([e["text"] for e in examples], candidate_labels=["sports", "business"])]
    assert predictions == [e["labels"][0] for e in examples]
    with pytest.raises(ValueError, match="not in labels"):
        finetune(tuned, examples, labels=["sports"], epochs=1)
    with pytest.raises(TypeError, match="got str"):
        finetune(tuned, "the team won", epochs=1)
    with pytest.raises(ValueError, match="no examples"):
        finetune(tuned, (example for example in []), epochs=1)
    again = finetune(tuned, examples[:2], labels="sports, business", epochs=1, select=False, progress=False)
    assert again.finetune_report.trained_on == 2  # labels as the pipeline takes them: one comma-separated string
    with pytest.raises(TypeError, match="model must be a GLiClassModel, its pipeline or a path, got int"):
        finetune(123, examples, epochs=1)
    with pytest.raises(TypeError, match="seed must be an integer"):
        finetune(tuned, examples, epochs=1, seed=None)
    from_pipeline = finetune(clf, examples[:2], labels="sports, business", epochs=1, select=False, progress=False)
    assert from_pipeline.finetune_report.trained_on == 2


def test_finetune_takes_one_set_of_label_names(make_model):
    """One set per text used the first text's set, descriptions were dropped unsaid, and examples that
    name no label (without labels=) failed in max()."""
    model = make_model()
    examples = [{"text": "the team won", "labels": ["sports"]}, {"text": "stocks fell", "labels": ["business"]}]
    with pytest.raises(ValueError, match="one label set for all examples"):
        finetune(model, examples, labels=[["sports", "business"], ["business", "sports"]], epochs=1)
    with pytest.raises(ValueError, match="without descriptions"):
        finetune(model, examples, labels={"sports": "games and matches", "business": None}, epochs=1)
    with pytest.raises(ValueError, match="the examples name none and labels= is not given"):
        finetune(model, [{"text": "the team won", "labels": []}], epochs=1)


@pytest.mark.parametrize("alphas", [None, "0.5", [True], ["0.5"]])
def test_finetune_names_bad_alphas(make_model, alphas):
    """None, a string or a string inside failed in a comparison ('<=' not supported ...); True passed as 1."""
    examples = [{"text": "the team won", "labels": ["sports"]}, {"text": "stocks fell", "labels": ["business"]}]
    with pytest.raises(ValueError, match="alphas must be a list of numbers in"):
        finetune(make_model(), examples, epochs=1, alphas=alphas)


def test_finetune_drops_calibrated_label_biases_with_a_warning(make_model):
    """They were fitted to the start model's scores; the held-out choice and the result go without them."""
    model = make_model()
    model.config.label_biases = {"sports": 2.0}
    examples = [{"text": "the team won", "labels": ["sports"]}, {"text": "stocks fell", "labels": ["business"]}]
    with pytest.warns(UserWarning, match="does not keep the label_biases"):
        tuned = finetune(model, examples, epochs=1, select=False, progress=False)
    assert tuned.config.label_biases == {} and model.config.label_biases == {"sports": 2.0}


def test_finetune_refuses_an_output_dir_that_is_a_file_before_training(make_model, tmp_path):
    """It was found only when saving, after the whole fine-tuning, whose result was then lost."""
    taken = []

    def examples():
        taken.append(True)
        yield from [{"text": "the team won", "labels": ["sports"]}, {"text": "stocks fell", "labels": ["business"]}]

    file = tmp_path / "tuned"
    file.write_text("")
    with pytest.raises(OSError, match="it is a file"):
        finetune(make_model(), examples(), epochs=1, select=False, progress=False, output_dir=file)
    assert not taken


def test_finetune_leaves_the_given_model_as_it_was(make_model):
    """It used to switch the caller's model to eval mode (dropout off in the caller's own training loop)."""
    model = make_model().train()
    weights = {name: value.clone() for name, value in model.state_dict().items()}
    examples = [{"text": "the team won", "labels": ["sports"]}, {"text": "stocks fell", "labels": ["business"]}]
    tuned = finetune(model, examples, epochs=1, progress=False)
    assert all(module.training for module in model.modules()) and not tuned.training
    assert all(torch.equal(weights[name], value) for name, value in model.state_dict().items())


def test_copies_of_a_text_are_held_out_together():
    texts = [f"text {index % 6}" for index in range(12)]  # every text twice
    targets = [["a" if index % 2 else "b"] for index in range(12)]
    splits = held_out_splits(texts, targets, folds=4, seed=0)
    assert splits
    for split in splits:
        held = {texts[index] for index in split}
        assert all(texts[index] not in held for index in range(12) if index not in split)


RESUME_SCRIPT = """
import json, sys, torch
from gliclass import GLiClassModel
from training import CandidateSampler, LabelledSet, Trainer, TrainingArguments, ZeroShotTrainingSet, load_set
backbone, data, out, resume = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
torch.manual_seed(0)
model = GLiClassModel.from_backbone(backbone)
train = ZeroShotTrainingSet([load_set(data)], CandidateSampler(max_labels=5), seed=7)
args = TrainingArguments(
    output_dir=out, max_steps=30, batch_size=4, save_steps=2, logging_steps=1, progress=False, seed=11
)
Trainer(model, args, train).train(resume=resume)
"""


def test_resume_after_sigkill_ends_with_the_same_weights(backbone_dir, tmp_path):
    labels = ["sports", "business", "politics", "science", "music", "health"]
    rng = random.Random(0)
    rows = [{"text": f"text number {i} about {rng.choice(labels)}", "labels": [rng.choice(labels)]} for i in range(40)]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "meta.json").write_text(json.dumps({"name": "toy", "labels": labels}))
    write_lines(tmp_path / "data" / "train.jsonl", rows)
    script = tmp_path / "run.py"
    script.write_text(RESUME_SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(REPO))

    def command(out: Path, resume: bool) -> list[str]:
        return [
            sys.executable,
            str(script),
            str(backbone_dir),
            str(tmp_path / "data"),
            str(out),
            "1" if resume else "0",
        ]

    subprocess.run(command(tmp_path / "straight", False), env=env, check=True, capture_output=True)
    killed = subprocess.Popen(
        command(tmp_path / "killed", False), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 120
    while not any((tmp_path / "killed").glob("checkpoint-*/trainer_state.json")):  # killed after a checkpoint
        assert killed.poll() is None and time.time() < deadline, "training ended before it could be killed"
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert not (tmp_path / "killed" / "final").exists()
    with (tmp_path / "killed" / "metrics.jsonl").open("a") as log:
        log.write('{"step": 29, "loss": 1.0}\n{"step": 30, "lo')  # logged after the checkpoint, cut by the kill
    subprocess.run(command(tmp_path / "killed", True), env=env, check=True, capture_output=True)
    straight = load_file(tmp_path / "straight" / "final" / "model.safetensors")
    resumed = load_file(tmp_path / "killed" / "final" / "model.safetensors")
    assert straight.keys() == resumed.keys()
    for key in straight:
        assert torch.equal(straight[key], resumed[key]), key

    def logged(out: Path) -> list[tuple[int, float]]:  # each step once, with the same loss
        lines = (out / "metrics.jsonl").read_text().splitlines()
        return [(record["step"], record.get("loss")) for record in map(json.loads, lines)]

    assert logged(tmp_path / "killed") == logged(tmp_path / "straight")
    again = subprocess.run(command(tmp_path / "killed", False), env=env, capture_output=True, text=True)
    assert again.returncode != 0 and "holds another run (checkpoint-30, metrics.jsonl, final)" in again.stderr


def test_a_folder_with_a_run_but_no_checkpoint_says_how_to_go_on(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"step": 4}\n')  # killed before its first checkpoint
    with pytest.raises(ValueError, match="saved no checkpoint to resume from .save_steps., so delete it or choose"):
        resume_checkpoint(tmp_path, False)
    with pytest.raises(
        ValueError, match="nothing to resume: the run in .* saved no checkpoint .save_steps.; delete it"
    ):
        resume_checkpoint(tmp_path, True)
    (tmp_path / "checkpoint-2").mkdir()
    (tmp_path / "checkpoint-2" / STATE_FILE).write_text("{}")
    with pytest.raises(ValueError, match=r"holds another run \(checkpoint-2, metrics.jsonl\): resume it"):
        resume_checkpoint(tmp_path, False)
    assert resume_checkpoint(tmp_path, True) == tmp_path / "checkpoint-2"
    (tmp_path / "final").mkdir()  # a finished run's model (or anything else named so) is not overwritten
    with pytest.raises(ValueError, match=r"holds another run \(checkpoint-2, metrics.jsonl, final\)"):
        resume_checkpoint(tmp_path, False)


def test_the_final_model_is_written_atomically(tmp_path):
    """Stopped while saving (Ctrl-C), the earlier `final/` stays as it was: never a half-written model."""

    class StoppedWhileSaving:
        def save_pretrained(self, folder):
            Path(folder).mkdir()
            (Path(folder) / "config.json").write_text("{}")
            raise KeyboardInterrupt

    (tmp_path / "final").mkdir()
    (tmp_path / "final" / "config.json").write_text('{"earlier": true}')
    with pytest.raises(KeyboardInterrupt):
        save_final_model(StoppedWhileSaving(), tmp_path)
    assert json.loads((tmp_path / "final" / "config.json").read_text()) == {"earlier": True}


def test_a_checkpoint_save_cut_by_a_kill_leaves_no_temporary_folder_behind(tmp_path):
    """Killed while saving checkpoint-10, then resumed with another `save_steps` (which may change):
    step 10 was never saved again, so `.tmp-checkpoint-10` (a whole model and optimizer) stayed for good."""
    from accelerate import Accelerator

    (tmp_path / ".tmp-checkpoint-10").mkdir()
    (tmp_path / ".tmp-checkpoint-10" / "model.safetensors").write_bytes(b"half written")
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=30, save_steps=4, progress=False)
    save_checkpoint(Accelerator(cpu=True), tmp_path, {"step": 12}, args, "training_args.json", {})
    assert sorted(path.name for path in tmp_path.iterdir()) == ["checkpoint-12", "training_args.json"]


def test_a_resumed_run_keeps_the_settings_that_shape_its_training(tmp_path):
    """Read from the checkpoint's own record (renamed into place with it), else the one beside it; a
    missing or cut record is an error naming it, not a resume with any settings."""
    saved = TrainingArguments(output_dir=str(tmp_path), batch_size=4, max_steps=30, save_steps=2, progress=False)
    checkpoint = tmp_path / "checkpoint-2"
    checkpoint.mkdir()
    with pytest.raises(ValueError, match="training_args.json is missing"):
        check_resumed_settings(checkpoint, "training_args.json", asdict(saved))
    (tmp_path / "training_args.json").write_text("")
    with pytest.raises(ValueError, match="training_args.json is not a settings record"):
        check_resumed_settings(checkpoint, "training_args.json", asdict(saved))
    (checkpoint / "training_args.json").write_text(json.dumps(asdict(saved)))
    check_resumed_settings(checkpoint, "training_args.json", asdict(replace(saved, save_steps=5, progress=True)))
    with pytest.raises(ValueError, match=r"other settings \(max_steps 30 -> 10, batch_size 4 -> 8\)"):
        check_resumed_settings(checkpoint, "training_args.json", asdict(replace(saved, batch_size=8, max_steps=10)))


APART_ITEMS = [
    ("the team won the match", ["sports", "politics", "business"], [1.0, 0.0, 0.0]),
    ("stocks fell as markets reacted", ["business", "sports"], [1.0, 0.0]),
    ("parliament passed the bill", ["politics", "science", "sports", "business"], [1.0, 0.0, 0.0, 0.0]),
]


def test_labels_apart_batches_give_the_joint_loss_and_gradients(make_embedder):
    model = make_embedder()
    limit = backbone_max_length(model, model.tokenizer)
    assert fitted_length(model, 10 * limit) == limit and fitted_length(model, 16) == 16
    apart, joint = training_collator(model, 128), gliclass_collator(model, 128)
    assert isinstance(apart, LabelsApartCollator)
    batch = apart(APART_ITEMS)
    assert batch["label_input_ids"].shape[0] == 4  # each distinct label encoded once
    losses, gradients = [], []
    for collator in (apart, joint):
        model.zero_grad()
        loss = batch_loss(model, collator(APART_ITEMS))
        loss.backward()
        losses.append(loss.detach())
        gradients.append({name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None})
    assert torch.allclose(losses[0], losses[1], atol=1e-6)
    assert gradients[0].keys() == gradients[1].keys() and len(gradients[0]) > 10
    for name, gradient in gradients[0].items():
        assert torch.allclose(gradient, gradients[1][name], atol=1e-5), name


def test_a_fused_bi_encoder_trains_on_the_rows_it_scores():
    """A released bi-encoder-fused checkpoint: its text rows need their label vectors, so training
    batches are the forward inputs inference scores, and finetune learns from them."""
    model = gliclass.GLiClassModel.from_pretrained(REPO / "tests/fixtures/reference_families/bi_encoder_fused")
    collator = training_collator(model, 128)
    assert isinstance(collator, FusedRowsCollator)
    batch = collator(APART_ITEMS)
    model.eval()
    with torch.no_grad():
        logits = model(**{name: value for name, value in batch.items() if name != "labels"}).logits
    clf = gliclass.pipeline(model=model, device="cpu")
    for row, (text, labels, targets) in enumerate(APART_ITEMS):
        scores = clf.score_texts([text], labels)[0]
        assert torch.allclose(torch.sigmoid(logits[row, : len(labels)]), scores, atol=1e-5)
        assert batch["labels"][row, : len(labels)].tolist() == targets
    examples = [{"text": text, "labels": [labels[0]]} for text, labels, _ in APART_ITEMS]
    tuned = finetune(
        model,
        examples,
        labels=["sports", "politics", "business"],
        epochs=20,
        batch_size=3,
        encoder_lr=1e-3,
        head_lr=1e-3,
        seed=1,
        select=False,
        progress=False,
    )
    tuned.eval()
    with torch.no_grad():
        assert batch_loss(tuned, batch) < 0.5 * batch_loss(model, batch)


def test_joint_models_keep_joint_batches(make_model):
    assert isinstance(training_collator(make_model(), 128), Collator)


def test_fixed_candidates_shuffle_examples_per_epoch_and_replay():
    data = FixedCandidatesSet([f"t{i}" for i in range(20)], [["a"]] * 20, ["a", "b", "c"], shuffle_seed=1)
    first = [data[i] for i in range(20)]
    assert sorted(item[0] for item in first) == sorted(f"t{i}" for i in range(20))
    data.set_epoch(1)
    assert [item[0] for item in (data[i] for i in range(20))] != [item[0] for item in first]
    data.set_epoch(0)
    assert [data[i] for i in range(20)] == first


TOPIC_EXAMPLES = [
    {"text": text, "labels": [label]}
    for label, texts in {
        "sports": ["the team won the match", "the championship final", "the match ended in a draw", "team won again"],
        "business": ["stocks fell sharply", "the central bank raised rates", "markets reacted", "interest rates rose"],
    }.items()
    for text in texts
]


def test_finetune_chooses_training_when_held_out_examples_gain(make_embedder):
    start = make_embedder(logit_scale_init_value=1.0)
    tuned = finetune(
        start, TOPIC_EXAMPLES, epochs=12, encoder_lr=3e-3, head_lr=3e-3, alphas=(0.0, 0.5, 1.0), seed=0, progress=False
    )
    report = tuned.finetune_report
    assert report.folds == 4 and report.held_out == len(TOPIC_EXAMPLES)
    assert report.alpha > 0 and report.score > report.start_score and report.trained_on == len(TOPIC_EXAMPLES)
    assert set(report.scores) == {(0.0, 0.0)} | {(12 * f, a) for f in (0.25, 0.5, 0.75, 1.0) for a in (0.5, 1.0)}
    assert not torch.equal(tuned.model.text_projector.linear_1.weight, start.model.text_projector.linear_1.weight)


def test_finetune_chooses_the_lowest_held_out_loss_that_keeps_macro_f1():
    scores = {START: 0.8, (5.0, 0.5): 0.9, (5.0, 1.0): 0.7, (10.0, 0.5): 0.9, (10.0, 1.0): 0.8}
    losses = {START: 0.40, (5.0, 0.5): 0.30, (5.0, 1.0): 0.10, (10.0, 0.5): 0.30, (10.0, 1.0): 0.35}
    assert chosen_candidate(scores, losses) == (5.0, 0.5)  # (5, 1) loses macro-F1; the tie goes to fewer epochs
    assert chosen_candidate(scores, {**losses, (5.0, 0.5): 0.5, (10.0, 0.5): 0.5}) == (10.0, 1.0)
    assert chosen_candidate(scores, {key: 0.4 for key in losses}) == START  # nothing is strictly better
    tables = {START: torch.tensor([[0.9, 0.1], [0.6, 0.4]]), (5.0, 1.0): torch.tensor([[0.9, 0.1], [0.4, 0.6]])}
    f1, loss = held_out_metrics(tables, ["a", "b"], [["a"], ["b"]], multi_label=False)
    assert f1[START] < f1[(5.0, 1.0)] == 1.0 and loss[(5.0, 1.0)] < loss[START]
    expected = -(math.log(0.9) * 2 + math.log(0.6) * 2) / 4
    assert loss[(5.0, 1.0)] == pytest.approx(expected, abs=1e-6)


def test_finetune_probes_every_candidate_in_every_fold_when_few_steps_round_together(make_embedder):
    politics = ["parliament passed the bill", "the minister resigned", "voters went to the polls"]
    examples = TOPIC_EXAMPLES + [{"text": text, "labels": ["politics"]} for text in politics]
    tuned = finetune(make_embedder(), examples, epochs=1, progress=False)  # folds of 1 and 2 steps per epoch
    report = tuned.finetune_report
    assert report.folds == 4 and report.held_out == len(examples)
    alphas = (0.25, 0.5, 0.75, 1.0)  # finetune's, less 0 (the start model)
    assert {key for key in report.scores if key != START} == {(0.25 * k, a) for k in (1, 2, 3, 4) for a in alphas}


def test_finetune_falls_back_to_the_start_model_when_held_out_says_so(make_embedder):
    start = finetune(make_embedder(), TOPIC_EXAMPLES, epochs=30, encoder_lr=1e-3, head_lr=1e-3, select=False)
    assert start.finetune_report.folds == 0 and start.finetune_report.trained_on == len(TOPIC_EXAMPLES)
    tuned = finetune(start, TOPIC_EXAMPLES, epochs=4, encoder_lr=0.3, head_lr=0.3, progress=False)  # a wrecking step
    report = tuned.finetune_report
    assert report.start_score == 1.0 and report.alpha == 0 and report.epochs == 0 and report.trained_on == 0
    assert tuned is not start
    for name, value in tuned.state_dict().items():
        assert torch.equal(value, start.state_dict()[name]), name


@pytest.mark.parametrize("eval_limit", [0, -1])
def test_an_eval_limit_below_1_is_refused_before_training(tmp_path, eval_limit):
    with pytest.raises(ValueError, match="eval_limit must be at least 1"):
        TrainingArguments(output_dir=str(tmp_path), eval_limit=eval_limit)
