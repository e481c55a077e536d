"""The benchmark suite on tiny models and two tiny datasets: every path runs, the numbers are right."""

from __future__ import annotations

import importlib
import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

from benchmarks import finetune_selection, shortlist, speed_vs_reference
from benchmarks.__main__ import main
from benchmarks.active_learning import pool_and_test
from benchmarks.data import REPO_ROOT
from benchmarks.examples import seeds_report
from benchmarks.labels import label_pool
from benchmarks.loading import hub_set, local_copy, local_sets
from benchmarks.ppo_few_shot import benchmark_set, merged, report
from benchmarks.report import RUNS, check_output, new_run_folder
from benchmarks.suites import PAPER_SUITE, HubDataset, humanize
from benchmarks.systems import NLI_LABELS, CrossEncoderSystem, EmbeddingSystem, GLiClassSystem, SystemSpec, parse_system
from benchmarks.worker import answer
from gliclass import GLiClassModel
from training.baselines import nli_columns
from training.fit_score_calibration import split_of

TOPICS = [
    ("the team won the championship for the third year", ["sports"]),
    ("parliament passed the new budget bill on tuesday", ["politics"]),
    ("stocks fell sharply as markets reacted to the report", ["business"]),
    ("the match ended in a draw after extra time", ["sports"]),
    ("the president met foreign leaders at the summit", ["politics"]),
    ("the central bank raised interest rates again", ["business"]),
]
MOODS = [
    ("i loved the food and the service was great", ["joy", "love"]),
    ("the movie was boring and far too long", ["anger"]),
    ("scientists discovered a new species in the rainforest", ["surprise"]),
    ("a new smartphone with a faster chip was announced", ["joy", "surprise"]),
]


def write_set(root: Path, name: str, rows: list, multi_label: bool) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    labels = sorted({label for _, gold in rows for label in gold})
    (folder / "meta.json").write_text(json.dumps({"name": name, "labels": labels, "multi_label": multi_label}))
    (folder / "test.jsonl").write_text(
        "".join(json.dumps({"text": text, "labels": gold}) + "\n" for text, gold in rows)
    )


@pytest.fixture(scope="module")
def eval_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data") / "eval"
    write_set(root, "topics", TOPICS, multi_label=False)
    write_set(root, "moods", MOODS, multi_label=True)
    return root


@pytest.fixture(scope="module")
def gliclass_dir(backbone_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny_gliclass")
    GLiClassModel.from_backbone(str(backbone_dir)).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def cross_encoder_dir(backbone_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny_nli")
    config = BertConfig.from_pretrained(
        backbone_dir, num_labels=3, id2label=NLI_LABELS, label2id={name: index for index, name in NLI_LABELS.items()}
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    BertTokenizerFast.from_pretrained(backbone_dir).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def system_args(gliclass_dir: Path, cross_encoder_dir: Path, backbone_dir: Path) -> list[str]:
    """All three kinds, for the accuracy command."""
    return [
        "--system",
        f"gliclass={gliclass_dir}",
        "--system",
        f"cross-encoder={cross_encoder_dir}",
        "--system",
        f"embedding={backbone_dir}",
        "--threads",
        "1",
        "--batch-size",
        "4",
    ]


# --- systems and options ---------------------------------------------------------------------


def test_system_specs_parse_and_name() -> None:
    assert parse_system("embedding") == SystemSpec("embedding", "@minilm")
    assert parse_system("gliclass=/models/minilm-avg-fp32/").name == "gliclass:minilm-avg-fp32"
    assert parse_system("cross-encoder=untrained:@minilm").name == "cross-encoder:all-MiniLM-L6-v2 (untrained)"
    for bad, message in [
        ("bi-encoder=x", "kind must be"),
        ("gliclass", "give a model"),
        ("embedding=untrained:x", "no head"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_system(bad)


def test_nli_columns_follow_the_label_names() -> None:
    assert nli_columns(NLI_LABELS, 3, "m") == (0, 2)
    assert nli_columns({0: "not_entailment", 1: "entailment"}, 2, "m") == (1, 0)
    assert nli_columns({0: "ENTAILMENT", 1: "other"}, 2, "m") == (0, 1)
    assert nli_columns({0: "LABEL_0"}, 1, "m") == (None, None)
    with pytest.raises(ValueError, match="entailment"):
        nli_columns({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}, 3, "m")


def test_cross_encoder_scores_are_entailment_probabilities(cross_encoder_dir: Path) -> None:
    system = CrossEncoderSystem(str(cross_encoder_dir), batch_size=3)
    texts, labels = [TOPICS[0][0], TOPICS[1][0]], ["sports", "politics", "business"]
    scores = system.scores(texts, labels)
    assert scores.shape == (2, 3) and bool(((scores > 0) & (scores < 1)).all())
    pair = system.baseline.tokenizer(texts[1], "This example is business.", return_tensors="pt")
    with torch.no_grad():
        logits = system.baseline.model(**pair).logits[0]
    assert scores[1, 2].item() == pytest.approx(torch.softmax(logits[[2, 0]], dim=0)[1].item(), abs=1e-5)


def test_embedding_scores_are_cosines_of_mean_pooled_vectors(backbone_dir: Path) -> None:
    system = EmbeddingSystem(str(backbone_dir), batch_size=2)
    texts, labels = [TOPICS[0][0], MOODS[1][0], "short"], ["sports", "joy"]
    system.prepare(labels)
    assert tuple(labels) in system.cache
    scores = system.scores(texts, labels)

    def embed(text: str) -> torch.Tensor:
        encoded = system.baseline.tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            hidden = system.baseline.encoder(**encoded).last_hidden_state[0]
        return torch.nn.functional.normalize(hidden.mean(0), dim=0)

    assert scores[1, 0].item() == pytest.approx(float(embed(texts[1]) @ embed(labels[0])), abs=1e-5)
    assert scores.shape == (3, 2) and bool((scores.abs() <= 1 + 1e-5).all())


def test_gliclass_system_returns_the_pipeline_scores(gliclass_dir: Path) -> None:
    system = GLiClassSystem(str(gliclass_dir))
    labels = ["joy", "anger", "love"]
    scores = system.scores([MOODS[0][0]], labels)
    result = system.pipeline(MOODS[0][0], candidate_labels=labels)
    assert [scores[0, labels.index(label)].item() for label in result["labels"]] == pytest.approx(result["scores"])


def test_untrained_systems_are_built_from_a_backbone(backbone_dir: Path) -> None:
    cross = CrossEncoderSystem(f"untrained:{backbone_dir}")
    assert cross.baseline.model.config.num_labels == 3 and (
        cross.baseline.entailment,
        cross.baseline.contradiction,
    ) == (0, 2)
    assert GLiClassSystem(f"untrained:{backbone_dir}").scores(["hello"], ["a", "b"]).shape == (1, 2)


# --- data ------------------------------------------------------------------------------------


def test_paper_suite_has_the_fourteen_datasets() -> None:
    assert [spec.name for spec in PAPER_SUITE] == [
        "CR",
        "sst2",
        "sst5",
        "20_newsgroups",
        "spam",
        "financial_phrasebank",
        "imdb",
        "ag_news",
        "emotion",
        "cap_sotu",
        "rotten_tomatoes",
        "massive",
        "banking77",
        "snips",
    ]
    assert humanize("card_arrival") == "card arrival"
    assert humanize("AddToPlaylist") == "add to playlist"
    assert humanize("atm_support") == "atm support" and humanize("PIN_blocked") == "PIN blocked"


def test_local_sets_are_read_and_sampled_with_a_seed(eval_dir: Path) -> None:
    sets = local_sets(eval_dir)
    assert [item.data.name for item in sets] == ["moods", "topics"]
    assert sets[1].data.labels == ["business", "politics", "sports"] and sets[0].data.multi_label
    first = local_sets(eval_dir, ["topics"], limit=3, seed=1)[0].data
    assert len(first.texts) == 3 and first.texts == local_sets(eval_dir, ["topics"], limit=3, seed=1)[0].data.texts
    assert all(text in [row[0] for row in TOPICS] for text in first.texts)
    with pytest.raises(ValueError, match="unknown dataset"):
        local_sets(eval_dir, ["nope"])


def test_hub_style_datasets_get_natural_label_names(tmp_path: Path) -> None:
    from datasets import ClassLabel, Dataset, Features, Value

    strings = tmp_path / "strings"
    (strings / "data").mkdir(parents=True)
    rows = [{"body": "great film", "tag": "pos"}, {"body": "", "tag": "neg"}, {"body": "bad film", "tag": "Sci_Tech"}]
    (strings / "data" / "test.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    result = hub_set(HubDataset("toy", str(strings), text_column="body", label_column="tag", names={"pos": "positive"}))
    assert result.data.labels == ["sci tech", "neg", "positive"]
    assert result.data.gold == [["positive"], ["sci tech"]] and result.source["dropped_empty_texts"] == 1
    assert result.source["split"] == "test"

    classes = tmp_path / "classes"
    classes.mkdir()
    features = Features({"text": Value("string"), "label": ClassLabel(names=["World", "Sci/Tech"])})
    Dataset.from_dict({"text": ["a", "b", "c"], "label": [1, 0, 1]}, features=features).to_parquet(
        str(classes / "train.parquet")
    )
    spec = HubDataset("news", str(classes), label_column="label", names={"Sci/Tech": "science and technology"})
    result = hub_set(spec, limit=2)
    assert result.data.labels == ["world", "science and technology"] and len(result.data.texts) == 2
    assert result.source["split"] == "train"


def test_a_sample_of_a_hub_set_with_string_labels_keeps_every_label_of_the_split(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    rows = [{"text": f"text {index}", "label_text": label} for index, label in enumerate(["a", "b", "c", "d"] * 3)]
    (tmp_path / "data" / "test.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    sample = hub_set(HubDataset("toy", str(tmp_path)), limit=2).data
    assert len(sample.texts) == 2 and sample.labels == ["a", "b", "c", "d"]


def test_label_pool_is_deterministic_distinct_and_prefix_stable(eval_dir: Path) -> None:
    big = label_pool(40, eval_dir, seed=3)
    assert len(set(big)) == 40 and big[:5] == label_pool(5, eval_dir, seed=3)
    real = {label for _, gold in TOPICS + MOODS for label in gold}
    assert set(big[: len(real)]) == real and big[len(real)].endswith(" 2")


# --- the paper's hub suite, offline ---------------------------------------------------------

SETFIT = ("train", "test")
# hub id -> (splits, {column: "text" | "int" | "strings" | ClassLabel names}, raw labels of the rows)
HUB_SCHEMAS: dict[str, tuple[tuple[str, ...], dict[str, Any], list[str]]] = {
    "SetFit/CR": (SETFIT, {"text": "text", "label": "int", "label_text": "strings"}, ["positive", "negative"]),
    "SetFit/sst2": (
        ("train", "validation", "test"),
        {"text": "text", "label": "int", "label_text": "strings"},
        ["negative", "positive"],
    ),
    "SetFit/sst5": (
        ("train", "validation", "test"),
        {"text": "text", "label": "int", "label_text": "strings"},
        ["very negative", "neutral", "very positive"],
    ),
    "SetFit/20_newsgroups": (
        SETFIT,
        {"text": "text", "label": "int", "label_text": "strings"},
        ["rec.sport.hockey", "sci.space", "talk.politics.mideast"],
    ),
    "SetFit/enron_spam": (
        SETFIT,
        {
            "message_id": "int",
            "text": "text",
            "label": "int",
            "label_text": "strings",
            "subject": "text",
            "message": "text",
            "date": "text",
        },
        ["ham", "spam"],
    ),
    "takala/financial_phrasebank/sentences_allagree": (
        ("train",),
        {"sentence": "text", "label": ["negative", "neutral", "positive"]},
        ["negative", "positive"],
    ),
    "stanfordnlp/imdb": (("train", "test", "unsupervised"), {"text": "text", "label": ["neg", "pos"]}, ["neg", "pos"]),
    "fancyzhx/ag_news": (
        SETFIT,
        {"text": "text", "label": ["World", "Sports", "Business", "Sci/Tech"]},
        ["Sci/Tech", "World"],
    ),
    "dair-ai/emotion": (
        ("train", "validation", "test"),
        {"text": "text", "label": ["sadness", "joy", "love", "anger", "fear", "surprise"]},
        ["joy", "fear"],
    ),
    "MoritzLaurer/cap_sotu": (SETFIT, {"text": "text", "labels": "strings"}, ["Macroeconomics", "Civil Rights"]),
    "cornell-movie-review-data/rotten_tomatoes": (
        ("train", "validation", "test"),
        {"text": "text", "label": ["neg", "pos"]},
        ["pos", "neg"],
    ),
    "AmazonScience/massive/en-US": (
        ("train", "validation", "test"),
        {
            "id": "text",
            "locale": "text",
            "utt": "text",
            "scenario": ["alarm", "music"],
            "intent": ["alarm_set", "play_music"],
        },
        ["play_music", "alarm_set"],
    ),
    "PolyAI/banking77": (
        SETFIT,
        {"text": "text", "label": ["activate_my_card", "Refund_not_showing_up", "pin_blocked"]},
        ["pin_blocked", "Refund_not_showing_up"],
    ),
    "benayas/snips": (SETFIT, {"text": "text", "category": "strings"}, ["AddToPlaylist", "GetWeather"]),
}


def save_hub_copy(spec: HubDataset, hub_dir: Path) -> None:
    """A tiny `DatasetDict` in `spec`'s hub schema; the last row of each split has an empty text."""
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    splits, columns, raw = HUB_SCHEMAS[spec.hub_id + (f"/{spec.config}" if spec.config else "")]
    texts = [f"{label} example number {index}" for index, label in enumerate(raw)] + [""]
    features, table = {}, {}
    for name, kind in columns.items():
        features[name] = (
            ClassLabel(names=kind) if isinstance(kind, list) else Value("int64" if kind == "int" else "string")
        )
        if name == spec.text_column:
            table[name] = texts
        elif name == spec.label_column:
            table[name] = [kind.index(label) if isinstance(kind, list) else label for label in raw + raw[:1]]
        else:
            table[name] = [0] * len(texts) if isinstance(kind, list) or kind == "int" else ["x"] * len(texts)
    dataset = Dataset.from_dict(table, features=Features(features))
    DatasetDict({split: dataset for split in splits}).save_to_disk(str(local_copy(hub_dir, spec)))


def test_the_paper_suite_runs_offline_on_local_copies_in_the_hub_schemas(backbone_dir: Path, tmp_path: Path) -> None:
    hub_dir = tmp_path / "hub"
    for spec in PAPER_SUITE:
        save_hub_copy(spec, hub_dir)
    out = tmp_path / "out"
    argv = [
        "accuracy",
        "--suite",
        "paper",
        "--hub-dir",
        str(hub_dir),
        "--out",
        str(out),
        "--threads",
        "1",
        "--system",
        f"embedding={backbone_dir}",
    ]
    assert main(argv) == 0
    payload = json.loads((out / "accuracy.json").read_text())
    datasets = {item["name"]: item for item in payload["datasets"]}
    assert list(datasets) == [spec.name for spec in PAPER_SUITE]
    assert all(item["source"]["dropped_empty_texts"] == 1 for item in datasets.values())
    assert (
        datasets["financial_phrasebank"]["source"]["split"] == "train" and datasets["CR"]["source"]["split"] == "test"
    )
    assert [datasets[name]["labels"] for name in ("ag_news", "banking77", "emotion", "massive")] == [4, 3, 6, 2]
    sets = {spec.name: hub_set(spec, hub_dir=hub_dir).data for spec in PAPER_SUITE}
    assert sets["ag_news"].labels == ["world", "sports", "business", "science and technology"]
    assert sets["20_newsgroups"].gold == [["hockey"], ["space"], ["middle east politics"]]
    assert sets["spam"].labels == ["not spam", "spam"] and sets["imdb"].labels == ["negative", "positive"]
    assert sets["banking77"].labels == ["activate my card", "refund not showing up", "pin blocked"]
    assert sets["massive"].gold == [["play music"], ["alarm set"]] and sets["snips"].labels == [
        "add to playlist",
        "get weather",
    ]
    with pytest.raises(FileNotFoundError, match="no saved copy"):
        hub_set(PAPER_SUITE[0], hub_dir=tmp_path / "empty")


def test_runs_go_to_a_new_folder_unless_out_is_given() -> None:
    first = new_run_folder()
    assert first.parent == RUNS and not first.exists() and "results" not in first.parts


# --- command line ----------------------------------------------------------------------------


def test_accuracy_command_runs_all_three_kinds(eval_dir: Path, system_args: list[str], tmp_path: Path) -> None:
    assert main(["accuracy", "--data-dir", str(eval_dir), "--out", str(tmp_path), "--limit", "5", *system_args]) == 0
    payload = json.loads((tmp_path / "accuracy.json").read_text())
    assert payload["command"].startswith("python -m benchmarks accuracy --data-dir")
    assert [system["kind"] for system in payload["systems"]] == ["gliclass", "cross-encoder", "embedding"]
    assert [item["examples"] for item in payload["datasets"]] == [4, 5]
    assert not any(Path(item["source"]["path"]).is_absolute() for item in payload["datasets"])  # no machine's folders
    for per_set in payload["results"].values():
        assert set(per_set) == {"moods", "topics"}
        assert "mean_average_precision" in per_set["moods"] and "mean_average_precision" not in per_set["topics"]
        assert all(
            0.0 <= value <= 1.0 for metrics in per_set.values() for key, value in metrics.items() if key != "seconds"
        )
    markdown = (tmp_path / "accuracy.md").read_text()
    assert "### Macro-F1" in markdown and "**mean**" in markdown and "gliclass:tiny_gliclass" in markdown


def test_speed_command_times_systems_in_workers_and_plots(
    eval_dir: Path, gliclass_dir: Path, backbone_dir: Path, tmp_path: Path
) -> None:
    argv = [
        "speed",
        "--data-dir",
        str(eval_dir),
        "--out",
        str(tmp_path),
        "--texts",
        "3",
        "--labels",
        "1,4",
        "--embedding-labels",
        "60",
        "--repeats",
        "2",
        "--threads",
        "1",
        "--system",
        f"gliclass={gliclass_dir}",
        "--system",
        f"embedding={backbone_dir}",
    ]
    assert main(argv) == 0
    payload = json.loads((tmp_path / "speed.json").read_text())
    results = payload["results"]
    assert {name: [row["labels"] for row in rows] for name, rows in results.items()} == {
        f"gliclass:{gliclass_dir.name}": [1, 4],
        f"embedding:{backbone_dir.name}": [1, 4, 60],
    }
    for rows in results.values():
        for row in rows:
            speed = row["texts_per_second"]
            assert len(row["seconds"]) == 2 and 0 < speed["min"] <= speed["median"] <= speed["max"]
            assert row["peak_rss_mib"] is None or row["peak_rss_mib"] > 10
    assert all(row["label_cache_seconds"] >= 0 for row in results[f"embedding:{backbone_dir.name}"])
    assert (tmp_path / "speed.png").read_bytes()[:4] == b"\x89PNG"
    assert "### Texts per second" in (tmp_path / "speed.md").read_text()

    assert main(["plot", str(tmp_path / "speed.json"), "--output", str(tmp_path / "again.png")]) == 0
    assert (tmp_path / "again.png").stat().st_size > 1000


def test_worker_protocol_serves_a_cross_encoder(cross_encoder_dir: Path) -> None:
    load = {
        "cmd": "load",
        "kind": "cross-encoder",
        "model": str(cross_encoder_dir),
        "threads": 1,
        "batch_size": 4,
        "device": "cpu",
        "seed": 0,
        "template": "It is about {}.",
    }
    system, reply = answer(None, load)
    assert reply == {"ok": True} and system.baseline.template == "It is about {}."
    for command in (
        {"cmd": "prepare", "labels": ["a", "b"]},
        {"cmd": "run", "texts": ["x y", "z"], "labels": ["a", "b"]},
    ):
        assert answer(system, command)[1]["seconds"] >= 0
    with pytest.raises(ValueError, match="unknown command"):
        answer(system, {"cmd": "dance"})


@pytest.mark.parametrize("module", ["benchmarks.worker", "benchmarks.label_scale_worker"])
def test_workers_end_quietly_on_ctrl_c(module: str) -> None:
    """Ctrl-C reaches every process of the group; the parent reports it, a worker prints no traceback."""
    worker = subprocess.Popen(
        [sys.executable, "-m", module],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )
    worker.stdin.write(json.dumps({"cmd": "run", "texts": ["x"], "labels": ["a"]}) + "\n")
    worker.stdin.flush()
    assert "load command first" in json.loads(worker.stdout.readline())["error"]  # waiting for the next command
    worker.send_signal(signal.SIGINT)
    _, errors = worker.communicate(timeout=30)
    assert worker.returncode == -signal.SIGINT and "Traceback" not in errors


def test_bad_options_give_clear_errors(eval_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "no_sets").mkdir()
    (tmp_path / "a_file").write_text("")
    speed = ["speed", "--data-dir", str(eval_dir), "--texts", "3"]
    for argv, message in [
        (["accuracy", "--data-dir", str(eval_dir), "--out", str(tmp_path / "a_file")], "is a file"),  # before the run
        (["accuracy", "--data-dir", str(tmp_path / "no_sets"), "--out", str(tmp_path / "out")], "no evaluation sets"),
        (["accuracy", "--system", "bi-encoder=x"], "kind must be"),
        (["accuracy", "--threshold", "2"], "in [0, 1]"),
        (["speed", "--labels", "0"], "positive integer"),
        (["accuracy", "--data-dir", str(eval_dir), "--datasets", "nope", "--out", str(tmp_path)], "unknown dataset"),
        (["speed", "--data-dir", str(eval_dir), "--texts", "99"], "hold 10 texts"),
        ([*speed, "--reference-python", "python", "--system", "embedding"], "checkpoint"),
        (["plot", str(eval_dir / "topics" / "meta.json")], "not the JSON of a speed run"),
        (["plot", str(eval_dir / "topics" / "test.jsonl")], "test.jsonl is not the JSON of a speed run"),
        (
            [*speed, "--system", f"gliclass={tmp_path / 'none'}"],
            "failed: OSError: model folder",  # a worker's error: one line, not a traceback
        ),
        (
            [*speed, "--reference-python", shutil.which("false"), "--system", f"gliclass={tmp_path}"],
            "--reference-python",  # not a Python with the reference package: refused before any worker starts
        ),
    ]:
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "value"), [("--labels", ""), ("--labels", "1,x"), ("--repeats", "0"), ("--texts", "-1")]
)
def test_speed_vs_reference_refuses_bad_numbers(option: str, value: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as stop:  # argparse's refusal, before any model or worker
        speed_vs_reference.main([option, value])
    stderr = capsys.readouterr().err
    assert stop.value.code == 2 and f"error: argument {option}:" in stderr and "Traceback" not in stderr


def test_shortlist_mistakes_are_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert shortlist.main(["--joint", str(tmp_path / "none"), "--threads", "1"]) == 2
    assert (
        capsys.readouterr().err.strip().endswith("error: model folder " + str(tmp_path / "none") + " does not exist.")
    )
    with pytest.raises(SystemExit):
        shortlist.main(["--k", "5,0"])
    assert "argument --k: expected a positive integer" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("module", "argv", "message"),
    [
        ("label_split_speed", ["--labels", "0"], "argument --labels: expected a positive integer"),
        ("label_split_speed", ["--labels", "9"], "--labels 9: banking77 has 3 label names"),
        ("label_split_speed", ["--model", "{missing}", "--labels", "2"], "model folder {missing} does not exist"),
        ("bulk_run", ["--kill-after", "-1"], "argument --kill-after: expected a number > 0"),
        ("bulk_run", ["--texts", "99"], "only 20 texts in clinc150, hate_offensive; asked for 99"),
        ("examples", ["--limit", "x"], "argument --limit: expected a positive integer"),
        ("examples", ["--out", "{file}"], "--out {file} is a file; give a folder"),
        ("examples", ["--report", "{file}"], "--report {file} is not the JSON of a python -m benchmarks.examples run"),
        ("finetune_selection", ["--seeds", "0,-1"], "argument --seeds: expected comma-separated integers"),
        ("finetune_selection", ["--datasets", "intents,nope"], "unknown dataset 'nope'"),
        ("finetune_selection", ["--json", "{folder}"], "--json {folder} is a folder; give a file"),
        ("label_thresholds", ["--shots", "-1"], "argument --shots: expected a positive integer"),
        ("label_thresholds", ["--out", "{file}"], "--out {file} is a file; give a folder"),
        ("ppo_few_shot", ["--model", "{missing}", "--columns", "ppo"], "argument --columns: expected a subset"),
        ("ppo_few_shot", ["--model", "{missing}", "--kl-coef", "-1"], "argument --kl-coef: expected a number >= 0"),
        ("ppo_few_shot", ["--model", "{missing}", "--datasets", "topics", "--columns", "zero_shot"], "model folder"),
        ("active_learning", ["--model", "{missing}", "--json", "{file}", "--answers", "0"], "argument --answers"),
        ("active_learning", ["--model", "{missing}", "--json", "{folder}"], "--json {folder} is a folder"),
        ("active_learning", ["--model", "{missing}", "--json", "{file}", "--datasets", "nope"], "unknown dataset"),
    ],
)
def test_benchmark_scripts_refuse_mistakes_in_one_line(
    module: str, argv: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """A mistake is one `error:` line and status 2, before any long work; never a traceback (run in this
    process: a subprocess per case spent ~7 s importing torch)."""
    data = tmp_path / "data"
    for name, rows in (("topics", TOPICS), ("ag_news", TOPICS), ("banking77", TOPICS)):
        write_set(data / "eval", name, rows, multi_label=False)
    for name in ("intents", "clinc150", "hate_offensive"):
        (data / "train" / name).mkdir(parents=True)
        (data / "train" / name / "train.jsonl").write_text(
            "".join(json.dumps({"text": text, "labels": gold}) + "\n" for text, gold in TOPICS + MOODS)
        )
    (tmp_path / "a_file").write_text("")
    paths = {"missing": tmp_path / "none", "file": tmp_path / "a_file", "folder": tmp_path}
    monkeypatch.setenv("GLICLASS_DATA_DIR", str(data))
    try:
        code = importlib.import_module(f"benchmarks.{module}").main([arg.format(**paths) for arg in argv])
    except SystemExit as exit:  # argparse's own errors
        code = exit.code
    stderr = capsys.readouterr().err
    errors = [line for line in stderr.splitlines() if "error:" in line]
    assert code == 2, stderr
    assert len(errors) == 1 and errors[0].startswith(f"python -m benchmarks.{module}: error: ")
    assert message.format(**paths) in errors[0]


def test_outputs_are_checked_before_a_run(tmp_path: Path) -> None:
    check_output(tmp_path / "new" / "out.json", "--json", folder=False)
    assert (tmp_path / "new").is_dir()
    with pytest.raises(OSError, match="--json .* is a folder; give a file"):
        check_output(tmp_path, "--json", folder=False)
    (tmp_path / "a_file").write_text("")
    with pytest.raises(OSError, match="--out .* is a file; give a folder"):
        check_output(tmp_path / "a_file", "--out")


def test_ppo_sets_choose_on_split_a_and_test_on_split_b(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_set(tmp_path / "eval", "topics", TOPICS, multi_label=False)
    intents = tmp_path / "train" / "intents"
    intents.mkdir(parents=True)
    rows = [{"text": f"request number {i} about subject {i % 3}", "labels": [f"subject {i % 3}"]} for i in range(200)]
    (intents / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    monkeypatch.setenv("GLICLASS_DATA_DIR", str(tmp_path))
    choose, test = benchmark_set("intents", "A"), benchmark_set("intents", "B")
    assert choose.examples and test.examples and not set(choose.texts) & set(test.texts)
    assert {split_of(text) for text in choose.texts} == {"A"} and {split_of(text) for text in test.texts} == {"B"}
    assert len(benchmark_set("topics", "B").examples) == len(TOPICS)
    with pytest.raises(ValueError, match="never chosen on eval sets"):
        benchmark_set("topics", "A")
    pool, held_out = pool_and_test(choose, 10, 1000, seed=0)
    assert len(pool.examples) == 10 and len(held_out.examples) == len(choose.examples) - 10
    assert not set(pool.texts) & set(held_out.texts)


def test_finetune_selection_refuses_eval_sets_and_tables_each_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_set(tmp_path / "eval", "topics", TOPICS, multi_label=False)
    monkeypatch.setenv("GLICLASS_DATA_DIR", str(tmp_path))
    with pytest.raises(SystemExit) as stop:
        finetune_selection.main(["--datasets", "topics"])
    assert stop.value.code == 2 and "topics: eval sets" in capsys.readouterr().err
    scores = {(0.0, 0.0): 0.5, (5.0, 0.5): 0.7, (10.0, 0.5): 0.7, (5.0, 1.0): 0.6}
    assert finetune_selection.highest_macro_f1(scores) == (5.0, 0.5)
    rows = [
        {"dataset": "intents", "test_macro_f1": {"zero-shot": 0.5, "macro-F1": f1, "loss": 0.6, "all epochs": 0.4}}
        for f1 in (0.55, 0.65)
    ]
    row = "| intents | 2 | 0.500 | 0.600 | 0.600 | 0.400 | +0.050, +0.100, -0.100 |"
    assert row in finetune_selection.markdown(rows)
    longer = {"epochs": 20.0, "encoder_lr": 2e-5, "head_lr": 1e-4}
    table = finetune_selection.markdown([{**rows[0], "training": longer}, rows[1]])
    assert "| intents (20 epochs, lr 2e-05/0.0001) | 1 | 0.500 | 0.550 |" in table
    assert "| intents | 1 | 0.500 | 0.650 |" in table


def test_ppo_report_gives_mean_and_spread_and_marks_the_best() -> None:
    def row(seed: int, zero: float, ppo: float) -> dict[str, Any]:
        return {
            "dataset": "topics",
            "seed": seed,
            "train_examples": 24,
            "test_examples": 500,
            "zero_shot": {"macro_f1": zero},
            "ppo_labels": {"macro_f1": ppo},
            "seconds": {"ppo_labels": 100.0 + seed},
        }

    table = report([row(0, 0.5, 0.6), row(1, 0.5, 0.7)])
    assert "| topics | 2 | 24 | 500 | 0.500 ± 0.000 | - | **0.650 ± 0.071** | - | 100 |" in table
    supervised = {"dataset": "topics", "seed": 1, "supervised": {"macro_f1": 0.9}, "seconds": {"supervised": 5.0}}
    [first, second] = merged([row(0, 0.5, 0.6), row(1, 0.5, 0.7), supervised])
    assert "supervised" not in first and second["supervised"] == {"macro_f1": 0.9}
    assert second["seconds"] == {"ppo_labels": 101.0, "supervised": 5.0} and second["ppo_labels"] == {"macro_f1": 0.7}


def test_examples_seeds_report_averages_runs_and_gains() -> None:
    first = {"a": {"0 per label": 0.5, "1 per label": 0.7}, "b": {"0 per label": 0.8, "1 per label": 0.6}}
    second = {"a": {"0 per label": 0.7, "1 per label": 0.9}, "b": {"0 per label": 0.8, "1 per label": 0.7}}
    text = seeds_report([first, second])
    assert "| a | 0.600 ± 0.141 | 0.800 ± 0.141 |" in text
    assert "| b | 0.800 ± 0.000 | 0.650 ± 0.071 |" in text
    assert "1 per label: mean gain over zero-shot +0.0250, worst -0.1500" in text
    assert text.endswith("2 runs (seeds)")
