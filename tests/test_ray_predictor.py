"""Ray Data integration on a local Ray instance: same labels as the single-process pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="ray is not installed (pip install -e '.[ray]')")

import gliclass  # noqa: E402
from gliclass.ray_predictor import GLiClassPredictor, main  # noqa: E402

TEXTS = [
    "the match ended in a draw after extra time",
    "parliament passed the new budget bill on tuesday",
    "stocks fell sharply as markets reacted to the report",
    "scientists discovered a new species in the rainforest",
    "the team won the championship for the third year",
    "the central bank raised interest rates again",
    "a new smartphone with a faster chip was announced",
]
LABELS = ["sports", "politics", "business", "science", "technology"]


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture
def model_dir(make_embedder, tmp_path: Path) -> Path:
    make_embedder().save_pretrained(tmp_path / "model")
    return tmp_path / "model"


def expected(model_dir: Path, **options) -> list[dict]:
    return gliclass.pipeline(model=str(model_dir), device="cpu")(TEXTS, candidate_labels=LABELS, **options)


def test_map_batches_gives_the_single_process_labels(local_ray, model_dir: Path) -> None:
    dataset = ray.data.from_items([{"id": index, "text": text} for index, text in enumerate(TEXTS)])
    rows = dataset.map_batches(
        GLiClassPredictor,
        fn_constructor_kwargs=dict(candidate_labels=LABELS, model=str(model_dir), device="cpu", top_k=3),
        compute=ray.data.ActorPoolStrategy(size=2),
        num_cpus=0.5,  # two actors on the 2-CPU instance leave room for the read and write tasks
        batch_size=3,
        batch_format="pandas",
    ).take_all()
    rows.sort(key=lambda row: row["id"])
    assert [row["text"] for row in rows] == TEXTS
    single = expected(model_dir, top_k=3)
    assert [list(row["labels"]) for row in rows] == [result["labels"] for result in single]
    for row, result in zip(rows, single):
        assert list(row["scores"]) == pytest.approx(result["scores"], abs=1e-6)


def test_predictor_takes_numpy_batches(model_dir: Path) -> None:
    predictor = GLiClassPredictor(LABELS, model=str(model_dir), device="cpu", top_k=2)
    out = predictor({"text": np.array(TEXTS), "id": np.arange(len(TEXTS))})
    assert list(out["id"]) == list(range(len(TEXTS)))
    assert out["labels"].shape == (len(TEXTS),)
    assert [list(labels) for labels in out["labels"]] == [result["labels"] for result in expected(model_dir, top_k=2)]


def test_predictor_takes_pyarrow_batches(model_dir: Path) -> None:
    import pyarrow

    predictor = GLiClassPredictor(LABELS, model=str(model_dir), device="cpu", top_k=2)
    out = predictor(pyarrow.table({"text": TEXTS, "id": list(range(len(TEXTS)))}))  # was a TypeError ('<')
    assert out.column_names == ["text", "id", "labels", "scores"]
    assert out.column("labels").to_pylist() == [result["labels"] for result in expected(model_dir, top_k=2)]
    gold = predictor(pyarrow.table({"text": TEXTS[:1], "labels": [["sports"]]}))
    assert gold.column_names == ["text", "labels", "predicted_labels", "predicted_scores"]
    with pytest.raises(ValueError, match="no 'text' column; its columns are \\['body'\\]"):
        predictor(pyarrow.table({"body": TEXTS}))


def test_predictor_keeps_gold_label_columns(model_dir: Path) -> None:
    import pandas

    predictor = GLiClassPredictor(LABELS, model=str(model_dir), device="cpu", threshold=0.0)
    batch = pandas.DataFrame({"text": TEXTS[:2], "labels": [["sports"], ["politics"]]})
    out = predictor(batch)
    assert list(out["labels"]) == [["sports"], ["politics"]]
    assert list(out["predicted_labels"]) == [result["labels"] for result in expected(model_dir)[:2]]
    assert predictor.classifier.label_cache.misses == len(LABELS)  # encoded once, in __init__
    with pytest.raises(ValueError, match="no 'body' column"):
        GLiClassPredictor(LABELS, model=str(model_dir), device="cpu", text_column="body")(batch)


def test_command_classifies_jsonl_and_parquet(local_ray, model_dir: Path, tmp_path: Path) -> None:
    import pandas

    source = tmp_path / "texts.jsonl"
    source.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(TEXTS)), encoding="utf-8")
    pandas.read_json(source, lines=True).to_parquet(tmp_path / "texts.parquet")
    single = [result["labels"] for result in expected(model_dir, top_k=2)]
    for name, reader in (("texts.jsonl", _read_jsonl_folder), ("texts.parquet", pandas.read_parquet)):
        out = tmp_path / f"out-{name}"
        argv = ["--labels", ",".join(LABELS), "--input", str(tmp_path / name), "--output", str(out)]
        options = ["--model", str(model_dir), "--top-k", "2", "--concurrency", "1", "--cpus-per-actor", "0.5"]
        assert main([*argv, *options]) == 0
        table = reader(out)
        assert list(table["id"]) == list(range(len(TEXTS)))  # input order kept
        assert [list(labels) for labels in table["labels"]] == single


def test_command_reads_a_file_named_otherwise_with_input_format(local_ray, model_dir: Path, tmp_path: Path, capsys):
    """Ray's readers skip files not named for their format: `--input-format` was asked for and then
    failed ("no files found")."""
    import pandas

    rows = "".join(json.dumps({"text": text}) + "\n" for text in TEXTS)
    (tmp_path / "texts.data").write_text(rows, encoding="utf-8")
    pandas.read_json(tmp_path / "texts.data", lines=True).to_parquet(tmp_path / "texts.bin")
    (tmp_path / "texts").write_text(rows, encoding="utf-8")
    single = [result["labels"] for result in expected(model_dir, top_k=2)]
    options = ["--model", str(model_dir), "--top-k", "2", "--concurrency", "1", "--cpus-per-actor", "0.5"]
    cases = (("texts.data", "json", _read_jsonl_folder), ("texts.bin", "parquet", pandas.read_parquet))
    for name, kind, reader in cases:
        out = tmp_path / f"out-{kind}"
        argv = ["--labels", ",".join(LABELS), "--input", str(tmp_path / name), "--input-format", kind]
        assert main([*argv, "--output", str(out), *options]) == 0
        assert [list(labels) for labels in reader(out)["labels"]] == single
    argv = ["--labels", ",".join(LABELS), "--input", str(tmp_path / "texts"), "--input-format", "json"]
    assert main([*argv, "--output", str(tmp_path / "o"), *options]) == 2
    assert "has no extension, which Ray needs" in capsys.readouterr().err


def test_command_errors_are_one_line(model_dir: Path, tmp_path: Path, capsys) -> None:
    assert main(["--labels", "a,a", "--input", str(tmp_path), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("python -m gliclass.ray_predictor: error: --labels:")
    assert main(["--labels", "a,b", "--input", str(tmp_path / "missing.jsonl"), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error: --input" in err and "does not exist" in err


def _read_jsonl_folder(folder: Path):
    import pandas

    frames = [pandas.read_json(path, lines=True) for path in sorted(folder.glob("*.json*"))]
    return pandas.concat(frames, ignore_index=True)


def test_command_refuses_actors_that_take_every_cpu(local_ray, model_dir: Path, tmp_path: Path, capsys) -> None:
    source = tmp_path / "texts.jsonl"
    source.write_text(json.dumps({"text": TEXTS[0]}) + "\n", encoding="utf-8")
    argv = ["--labels", "a,b", "--input", str(source), "--output", str(tmp_path / "o"), "--model", str(model_dir)]
    assert main([*argv, "--concurrency", "2", "--cpus-per-actor", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "takes all 2 CPUs of the Ray cluster" in err


def test_command_names_a_bad_jsonl_line_by_file_and_line(local_ray, model_dir: Path, tmp_path: Path, capsys) -> None:
    """Checked before Ray reads it (Ray's reader said "Extra data" at a byte offset)."""
    source = tmp_path / "texts.jsonl"
    for line, message in ((json.dumps({"text": 5}), "must be a string"), ('{"text": "cut', "not valid JSON")):
        source.write_text(json.dumps({"text": TEXTS[0]}) + "\n" + line + "\n", encoding="utf-8")
        argv = ["--labels", "a,b", "--input", str(source), "--output", str(tmp_path / "o"), "--model", str(model_dir)]
        assert main([*argv, "--concurrency", "1", "--cpus-per-actor", "0.5"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"error: {source}:2: " in err and message in err, err
        assert not (tmp_path / "o").exists()


def test_command_names_a_bad_text_met_inside_an_actor(local_ray, model_dir: Path, tmp_path: Path, capsys) -> None:
    import pandas

    source = tmp_path / "texts.parquet"
    pandas.DataFrame({"text": [TEXTS[0], None]}).to_parquet(source)
    argv = ["--labels", "a,b", "--input", str(source), "--output", str(tmp_path / "o"), "--model", str(model_dir)]
    assert main([*argv, "--concurrency", "1", "--cpus-per-actor", "0.5"]) == 2
    err = capsys.readouterr().err  # after Ray's own log lines
    assert err.endswith("error: a value of the 'text' column must be a string, got NoneType.\n"), err[-500:]


def test_prediction_columns_are_typed_when_no_label_is_kept(model_dir: Path) -> None:
    """A batch whose texts kept no label was list<null>: a Parquet folder with such a file and a
    list<string> one could not be read back as one table."""
    import pandas
    import pyarrow

    predictor = GLiClassPredictor(LABELS, model=str(model_dir), device="cpu", threshold=1.0)
    types = [pyarrow.list_(pyarrow.string()), pyarrow.list_(pyarrow.float64())]
    table = predictor(pyarrow.table({"text": TEXTS[:2]}))
    assert [table.schema.field(name).type for name in ("labels", "scores")] == types
    frame = predictor(pandas.DataFrame({"text": TEXTS[:2]}, index=[5, 7]))
    assert [pyarrow.Table.from_pandas(frame).schema.field(name).type for name in ("labels", "scores")] == types
    assert list(frame["labels"]) == [[], []]


def test_per_text_labels_and_prompts_are_refused_at_construction(make_model, tmp_path: Path) -> None:
    """They were paired with each batch's rows by position (or failed in a worker when the counts differed)."""
    make_model().save_pretrained(tmp_path / "joint")  # labels encoded with each text: nothing checked them ahead
    joint = dict(model=str(tmp_path / "joint"), device="cpu")
    with pytest.raises(ValueError, match="candidate_labels must be one label set .* not one per text; got a list of 2"):
        GLiClassPredictor([["sports", "politics"], ["science", "business"]], **joint)
    with pytest.raises(ValueError, match="prompt must be one string for every row, not one per text"):
        GLiClassPredictor(LABELS, prompt=["topic", "topic"], **joint)


def test_command_refuses_an_input_without_rows(local_ray, model_dir: Path, tmp_path: Path, capsys) -> None:
    """An empty JSONL file was "error: argument of type 'NoneType' is not iterable"."""
    import pandas

    (tmp_path / "empty.jsonl").write_text("", encoding="utf-8")
    pandas.DataFrame({"text": pandas.Series([], dtype=str)}).to_parquet(tmp_path / "empty.parquet")
    for name in ("empty.jsonl", "empty.parquet"):
        argv = ["--labels", "a,b", "--input", str(tmp_path / name), "--output", str(tmp_path / "o")]
        assert main([*argv, "--model", str(model_dir), "--concurrency", "1", "--cpus-per-actor", "0.5"]) == 2
        err = capsys.readouterr().err
        assert err.endswith(f"error: {tmp_path / name} holds no rows to classify.\n"), err[-300:]
        assert not (tmp_path / "o").exists()


def test_a_bad_text_is_named_by_its_column_not_its_place_in_the_batch(model_dir: Path) -> None:
    """It was "text 1 ...": the place in this batch, which is no row number of the dataset."""
    import pandas

    predictor = GLiClassPredictor(LABELS, model=str(model_dir), device="cpu")
    with pytest.raises(TypeError, match="^a value of the 'text' column must be a string, got NoneType.$"):
        predictor(pandas.DataFrame({"text": [TEXTS[0], None]}, index=[700, 701], dtype=object))
    with pytest.raises(ValueError, match="^a value of the 'body' column is empty"):
        GLiClassPredictor(LABELS, model=str(model_dir), device="cpu", text_column="body")({"body": np.array([" "])})


def test_command_refuses_actors_that_want_missing_gpus(local_ray, model_dir: Path, tmp_path: Path, capsys) -> None:
    """Ray waited forever for a GPU the cluster does not have."""
    source = tmp_path / "texts.jsonl"
    source.write_text(json.dumps({"text": TEXTS[0]}) + "\n", encoding="utf-8")
    argv = ["--labels", "a,b", "--input", str(source), "--output", str(tmp_path / "o"), "--model", str(model_dir)]
    assert main([*argv, "--concurrency", "1", "--cpus-per-actor", "0.5", "--gpus-per-actor", "1"]) == 2
    err = capsys.readouterr().err
    assert err.endswith("needs more GPUs than the 0 of the Ray cluster.\n"), err[-300:]


def test_command_names_a_model_the_actors_cannot_load(local_ray, tmp_path: Path, capsys) -> None:
    """Ray reports an actor whose `__init__` failed as a dead actor, with the traceback as text."""
    source = tmp_path / "texts.jsonl"
    source.write_text(json.dumps({"text": TEXTS[0]}) + "\n", encoding="utf-8")
    missing = tmp_path / "no" / "model"
    argv = ["--labels", "a,b", "--input", str(source), "--output", str(tmp_path / "o"), "--model", str(missing)]
    assert main([*argv, "--concurrency", "1", "--cpus-per-actor", "0.5"]) == 2
    err = capsys.readouterr().err  # after Ray's own log lines
    assert err.endswith(f"error: model folder {missing} does not exist.\n"), err[-500:]


def test_command_errors_are_one_line_with_the_oldest_ray_the_extra_allows(monkeypatch, tmp_path: Path, capsys) -> None:
    """Ray 2.10 (the `ray` extra's minimum) has no `ray.exceptions.ActorDiedError`: an `except` naming it
    turned every error met while classifying (here: an input without rows) into an AttributeError."""
    import gliclass.ray_predictor as ray_predictor
    from gliclass.cli import InputError

    def no_rows(input_path: str, *args, **kwargs) -> int:
        raise InputError(f"{input_path} holds no rows to classify.")

    monkeypatch.delattr(ray.exceptions, "ActorDiedError", raising=False)
    monkeypatch.setattr(ray, "is_initialized", lambda: True)  # no cluster needed: the error comes first
    monkeypatch.setattr(ray_predictor, "classify_dataset", no_rows)
    source = tmp_path / "texts.jsonl"
    source.write_text("")
    assert main(["--labels", "a,b", "--input", str(source), "--output", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err == f"python -m gliclass.ray_predictor: error: {source} holds no rows to classify.\n"
