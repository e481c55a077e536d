"""`gliclass.data`: one reader and one rule set for folders, JSONL files and `datasets`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import gliclass
from gliclass.data import DataError, LabelledSet, load_set


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text(
        "".join((json.dumps(record) if not isinstance(record, str) else record) + "\n" for record in records)
    )
    return path


def test_a_folder_reads_meta_labels_and_one_split(tmp_path: Path) -> None:
    (tmp_path / "meta.json").write_text(json.dumps({"name": "toy", "labels": ["a", "b", "c"], "multi_label": True}))
    write_jsonl(tmp_path / "test.jsonl", [{"text": "one", "labels": ["a"]}, {"text": "two", "labels": ["b", "c"]}])
    write_jsonl(tmp_path / "train.jsonl", [{"text": "three", "labels": []}])
    labelled = gliclass.load_set(tmp_path, split="test")
    assert isinstance(labelled, LabelledSet) and labelled.name == "toy" and labelled.multi_label
    assert (
        labelled.labels == ["a", "b", "c"] and labelled.texts == ["one", "two"] and labelled.gold == [["a"], ["b", "c"]]
    )
    assert load_set(tmp_path).texts == ["one", "two", "three"]  # every *.jsonl without a split


def test_both_jsonl_formats_are_read(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "mixed.jsonl",
        [
            {"text": "one", "labels": ["x"]},
            "",
            {"text": "two", "all_labels": ["x", "y", "z"], "true_labels": {"y": 0.5}},
        ],
    )
    labelled = load_set(path)
    assert labelled.name == "mixed" and labelled.labels == ["x", "y", "z"] and not labelled.multi_label
    assert labelled.examples[1].targets == {"y": 0.5} and labelled.examples[1].candidates == ["x", "y", "z"]


@pytest.mark.parametrize(
    "record, message",
    [
        ("{not json", "not valid JSON"),
        ({"labels": ["x"]}, "no text"),
        ({"text": "  ", "labels": ["x"]}, "text is empty"),
        ({"text": "t"}, "no 'labels'"),
        ({"text": "t", "labels": "x"}, "must be a list"),
        ({"text": "t", "labels": ["x", "x"]}, "given twice"),
        ({"text": "t", "all_labels": ["x"], "true_labels": {"x": 2}}, r"number in \[0, 1\]"),
        ({"text": "t", "all_labels": ["x"], "true_labels": ["y"]}, "not among the candidate labels"),
    ],
)
def test_bad_records_are_located_by_file_and_line(tmp_path: Path, record, message: str) -> None:
    path = write_jsonl(tmp_path / "data.jsonl", [{"text": "fine", "labels": ["x"]}, record])
    with pytest.raises(DataError, match=rf"data.jsonl:2: .*{message}"):
        load_set(path)


def test_a_json_array_of_records_is_read_and_errors_name_the_line(tmp_path: Path) -> None:
    """The reference's training files: one JSON array (pretty-printed or on one line)."""
    records = [{"text": f"text {i}", "all_labels": ["x", "y"], "true_labels": ["x"]} for i in range(3)]
    (tmp_path / "pretty.json").write_text(json.dumps(records, indent=2))
    (tmp_path / "one_line.json").write_text("\ufeff" + json.dumps(records))
    for name in ("pretty.json", "one_line.json"):
        labelled = load_set(tmp_path / name)
        assert [example.text for example in labelled.examples] == ["text 0", "text 1", "text 2"]
    records[2]["true_labels"] = ["z"]
    (tmp_path / "bad.json").write_text(json.dumps(records, indent=2))
    with pytest.raises(DataError, match=r"bad.json:22: true label 'z' is not among the candidate labels"):
        load_set(tmp_path / "bad.json")
    (tmp_path / "no_comma.json").write_text('[{"text": "a", "labels": []}\n {"text": "b", "labels": []}]')
    with pytest.raises(DataError, match=r"no_comma.json:2: expected ',' or ']'"):
        load_set(tmp_path / "no_comma.json")
    (tmp_path / "cut.json").write_text(json.dumps(records, indent=2)[:-20])
    with pytest.raises(DataError, match=r"cut.json:\d+: not valid JSON"):
        load_set(tmp_path / "cut.json")


def test_a_broken_jsonl_line_names_its_column(tmp_path: Path) -> None:
    (tmp_path / "data.jsonl").write_text('{"text": "a", "labels": ["x"]}\n{"text": "b", "labels": ["x"]\n')
    with pytest.raises(DataError, match=r"data.jsonl:2: not valid JSON \(Expecting ',' delimiter, column 30\)"):
        load_set(tmp_path / "data.jsonl")


def test_a_gold_label_outside_meta_labels_is_refused(tmp_path: Path) -> None:
    (tmp_path / "meta.json").write_text(json.dumps({"labels": ["a"]}))
    write_jsonl(tmp_path / "test.jsonl", [{"text": "one", "labels": ["z"]}])
    with pytest.raises(DataError, match="test.jsonl:1: true label 'z'"):
        load_set(tmp_path, split="test")
    with pytest.raises(DataError, match="no dev.jsonl"):
        load_set(tmp_path, split="dev")


@pytest.mark.parametrize("missing", ["nowhere/data.jsonl", "./nowhere", Path("nowhere")])
def test_a_missing_local_path_is_an_os_error(missing) -> None:
    with pytest.raises(OSError, match="does not exist"):
        load_set(missing)


def test_a_dataset_with_class_labels_or_strings(tmp_path: Path) -> None:
    from datasets import ClassLabel, Dataset, Features, Sequence, Value

    features = Features({"sentence": Value("string"), "label": ClassLabel(names=["neg", "pos"])})
    table = Dataset.from_dict({"sentence": ["bad", "good"], "label": [0, 1]}, features=features)
    labelled = load_set(table, name="sst", text_column="sentence", label_column="label")
    assert labelled.name == "sst" and labelled.labels == ["neg", "pos"] and labelled.gold == [["neg"], ["pos"]]
    multi = Features({"text": Value("string"), "labels": Sequence(ClassLabel(names=["a", "b"]))})
    labelled = load_set(Dataset.from_dict({"text": ["t"], "labels": [[0, 1]]}, features=multi))
    assert labelled.multi_label and labelled.gold == [["a", "b"]]
    strings = Dataset.from_dict({"text": ["t", ""], "labels": ["x", "y"]})
    with pytest.raises(DataError, match=r"\[1\]: the text is empty"):
        load_set(strings, name="s")


@pytest.mark.parametrize(
    "text, message",
    [("\u200b\u200b", "empty"), ("abc \ud800", "lone surrogate"), ("a <<SEP>> b", "reserved token"), (12, "string")],
)
def test_texts_are_checked_as_the_pipeline_checks_them(tmp_path, text, message):
    path = tmp_path / "data.jsonl"
    path.write_text(
        json.dumps({"text": "fine", "labels": ["a"]}) + "\n" + json.dumps({"text": text, "labels": ["a"]}) + "\n"
    )
    with pytest.raises(DataError, match=f"{path}:2: .*{message}"):
        load_set(path)


@pytest.mark.parametrize(
    "meta, message",
    [
        ("{oops", "not valid JSON"),
        ("[]", "must hold a JSON object"),
        ('{"multi_label": "yes"}', "'multi_label' must be true or false"),
    ],
)
def test_a_bad_meta_json_is_named(tmp_path, meta, message):
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "meta.json").write_text(meta)
    (folder / "test.jsonl").write_text(json.dumps({"text": "fine", "labels": ["a"]}) + "\n")
    with pytest.raises(DataError, match=f"meta.json: {message}"):
        load_set(folder)
