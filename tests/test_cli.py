"""The installed command lines as users call them: every input checked before any output,
one `error:` line with FILE:LINE and exit code 2 for a user mistake, no traceback.

Most cases run the command's `main` in this process, as the installed script runs it (a command
line costs seconds of imports); what needs a process of its own (the installed script, standard
input, worker processes, kill, Ctrl-C, a closed pipe) runs the installed script."""

import importlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from gliclass import cli

GLICLASS = shutil.which("gliclass", path=str(Path(sys.executable).parent)) or shutil.which("gliclass")
LABELS = "sports,politics"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, backbone_dir):
    import torch

    from gliclass import GLiClassModel

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("cli") / "model"
    GLiClassModel.from_backbone(str(backbone_dir)).save_pretrained(folder)
    return folder


def in_process(main: Callable[[], int | None]) -> subprocess.CompletedProcess:
    """A command's `main` run here: its exit code (argparse's exits included) and what it printed."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with redirect_stdout(stdout), redirect_stderr(stderr):
        try:
            code = main()
        except SystemExit as exit:
            code = exit.code
    return subprocess.CompletedProcess([], code, stdout.getvalue(), stderr.getvalue())


def classify(model_dir, *args):
    """`gliclass classify --model MODEL_DIR --device cpu --labels sports,politics ARGS`, in this process."""
    return in_process(
        lambda: cli.main(["classify", "--model", str(model_dir), "--device", "cpu", "--labels", LABELS, *args])
    )


def classify_command(model_dir, *args, stdin=None):
    """The same through the installed script, in a process of its own."""
    command = [GLICLASS, "classify", "--model", str(model_dir), "--device", "cpu", "--labels", LABELS, *args]
    return subprocess.run(command, capture_output=True, text=stdin is None or isinstance(stdin, str), input=stdin)


def assert_one_error_line(result, *fragments):
    stderr = result.stderr if isinstance(result.stderr, str) else result.stderr.decode()
    assert result.returncode == 2, stderr
    assert not result.stdout, "nothing may be written before every input is checked"
    errors = [line for line in stderr.splitlines() if line.startswith("gliclass: error: ")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def test_the_installed_script_exists():
    assert GLICLASS is not None


def test_python_m_gliclass_classifies_texts_and_a_file_single_label(model_dir, tmp_path):
    command = [sys.executable, "-m", "gliclass", "classify", "--model", str(model_dir), "--device", "cpu"]
    texts = ["the team won", "parliament voted"]
    result = subprocess.run([*command, "--labels", LABELS, *texts], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["sequence"] for line in result.stdout.splitlines()] == texts
    data = tmp_path / "in.jsonl"
    data.write_text("\n".join(json.dumps({"text": f"text {i}"}) for i in range(5)) + "\n")
    result = classify(model_dir, "--single-label", "--input", str(data))
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 5 and "classifying" in result.stderr
    assert all(sum(line["scores"]) == pytest.approx(1.0, abs=1e-5) for line in lines)


def test_output_lines_keep_the_input_fields(model_dir, tmp_path):
    data = tmp_path / "in.jsonl"
    data.write_text(
        '{"text": "the team won", "id": 7, "meta": {"src": "x"}}\n\n{"text": "parliament voted", "id": 8}\n'
    )
    result = classify(model_dir, "--input", str(data), "--threshold", "0")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["id"] for line in lines] == [7, 8] and lines[0]["meta"] == {"src": "x"}
    assert all(sorted(line["labels"]) == ["politics", "sports"] and len(line["scores"]) == 2 for line in lines)


def test_input_labels_are_never_overwritten(model_dir, tmp_path):
    data = tmp_path / "gold.jsonl"
    data.write_text('{"text": "the team won", "labels": ["sports"]}\n')
    result = classify(model_dir, "--input", str(data))
    [line] = [json.loads(line) for line in result.stdout.splitlines()]
    assert line["labels"] == ["sports"] and sorted(line["predicted_labels"]) == ["politics", "sports"]
    data.write_text('{"text": "the team won", "labels": ["sports"], "predicted_labels": ["x"]}\n')
    [line] = [json.loads(line) for line in classify(model_dir, "--input", str(data)).stdout.splitlines()]
    assert line["predicted_labels"] == ["x"] and sorted(line["predicted_predicted_labels"]) == ["politics", "sports"]


@pytest.mark.parametrize("processes", ["1", "2"])
def test_warnings_are_single_lines_after_the_results(model_dir, tmp_path, processes):
    """One truncation warning for the whole run, counted over every chunk and process."""
    data = tmp_path / "long.jsonl"
    lines = [{"text": "the team won the match " * (100 if number % 2 else 1)} for number in range(6)]
    data.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = classify_command(model_dir, "--input", str(data), "--chunk-size", "2", "--num-processes", processes)
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 6
    warning_lines = [line for line in result.stderr.splitlines() if "did not fit" in line]
    assert len(warning_lines) == 1 and warning_lines[0].startswith("gliclass: warning: 3 of 6 texts"), result.stderr


def test_standard_input(model_dir):
    result = classify_command(model_dir, "--input", "-", stdin='{"text": "the team won"}\n{"text": "stocks fell"}\n')
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["text"] for line in result.stdout.splitlines()] == ["the team won", "stocks fell"]


def test_an_empty_text_late_in_the_file_fails_before_any_output(model_dir, tmp_path):
    data = tmp_path / "many.jsonl"
    lines = [json.dumps({"text": f"text number {i}"}) for i in range(299)] + [json.dumps({"text": "\u200b \u200b"})]
    data.write_text("\n".join(lines) + "\n")
    assert_one_error_line(classify(model_dir, "--input", str(data)), f"{data}:300:", "empty")


@pytest.mark.parametrize(
    "content, line, fragment",
    [
        (b'{"text": "fine"}\n{"text": "caf\xe9"}\n', 2, "not valid UTF-8"),
        (b'{"text": "fine"}\n{"text": "cut off', 2, "not valid JSON"),
        (b'{"text": "fine"}\n{"text": "a\tb"}\n', 2, "not valid JSON (Invalid control character, column 12)"),
        (b'{"text": "fine"}\n["a list"]\n', 2, "JSON object"),
        (b'{"text": "fine"}\n{"title": "no text"}\n', 2, "no 'text' field"),
        (b'{"text": "fine"}\n\n{"text": 12}\n', 3, "must be a string"),
        (b'{"text": "fine"}\n{"text": "abc \\ud800 def"}\n', 2, "lone surrogate"),
        (b'{"text": "fine"}\n{"text": "fine", "note": "\\udc80"}\n', 2, "column 'note' holds a lone surrogate"),
    ],
)
def test_broken_lines_are_named_by_file_and_line(model_dir, tmp_path, content, line, fragment):
    data = tmp_path / "broken.jsonl"
    data.write_bytes(content)
    assert_one_error_line(classify(model_dir, "--input", str(data)), f"{data}:{line}:", fragment)


def test_csv_tsv_txt_and_json_array_files_give_the_lines_of_the_same_texts_as_jsonl(model_dir, tmp_path):
    """Every other column is kept (as text); a quoted value may hold commas, quotes and line breaks,
    and be longer than the csv module's default field limit (128 KiB); blank lines are skipped as in
    JSON lines; a byte-order mark is dropped."""
    texts = ['the match ended, "finally", in a draw', "parliament passed\nthe budget", "stocks fell " * 20_000]
    (tmp_path / "texts.jsonl").write_text(
        "".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(texts))
    )
    quoted = ['"' + text.replace('"', '""') + '"' for text in texts]
    (tmp_path / "texts.csv").write_bytes(
        ("\ufeffid,text\r\n" + "".join(f"{i},{q}\r\n\r\n" for i, q in enumerate(quoted))).encode()
    )
    (tmp_path / "texts.tsv").write_text("text\tid\n" + "".join(f"{q}\t{i}\n" for i, q in enumerate(quoted)))
    (tmp_path / "texts.json").write_text(json.dumps([{"id": str(i), "text": t} for i, t in enumerate(texts)], indent=1))
    (tmp_path / "texts.txt").write_text("\n\n".join(text.replace("\n", " ") for text in texts) + "\n")
    expected = classify(model_dir, "--input", str(tmp_path / "texts.jsonl"))
    assert expected.returncode == 0, expected.stderr
    for name in ("texts.csv", "texts.tsv", "texts.json"):
        result = classify(model_dir, "--input", str(tmp_path / name))
        assert result.returncode == 0, result.stderr
        assert [json.loads(line) for line in result.stdout.splitlines()] == [
            json.loads(line) for line in expected.stdout.splitlines()
        ], name
    lines = [
        json.loads(line) for line in classify(model_dir, "--input", str(tmp_path / "texts.txt")).stdout.splitlines()
    ]
    assert [line["text"] for line in lines] == [text.replace("\n", " ") for text in texts]
    assert all(set(line) == {"text", "labels", "scores"} for line in lines)


def test_a_quoted_csv_value_keeps_its_crlf_line_breaks(model_dir, tmp_path):
    """The text as written in a CRLF file (the `\r` of each break inside the quotes was dropped)."""
    data = tmp_path / "in.csv"
    data.write_bytes(b'id,text\r\n1,"the team won\r\nthe match"\r\n')
    result = classify(model_dir, "--input", str(data))
    assert result.returncode == 0 and json.loads(result.stdout)["text"] == "the team won\r\nthe match", result.stderr


@pytest.mark.parametrize(
    "name, content, fragment",
    [
        ("a.csv", "id,body\n1,x\n", "a.csv:1: the header has no 'text' column (it has ['id', 'body'])"),
        ("a.csv", "text,text\nx,y\n", "a.csv:1: the header names ['text'] more than once"),
        ("a.csv", "id,text\n1,fine\n2,one,two\n", "a.csv:3: 3 values, the header has 2 columns"),
        ("a.csv", 'id,text\n1,fine\n2,"never closed\n3,x\n', "a.csv:3: not valid CSV"),
        ("a.csv", "id,text\n1,fine\n2,  \n", "a.csv:3: the text is empty"),
        ("a.tsv", 'text\n"a"b\n', "a.tsv:2: not valid TSV"),
        ("a.txt", "fine\n\ncaf\xe9\n", "a.txt:3: not valid UTF-8"),
    ],
)
def test_broken_csv_tsv_and_txt_lines_are_named_by_file_and_line(model_dir, tmp_path, name, content, fragment):
    data = tmp_path / name
    data.write_bytes(content.encode("latin-1"))
    assert_one_error_line(classify(model_dir, "--input", str(data)), str(tmp_path / fragment))


def test_broken_standard_input_is_named_too(model_dir):
    assert_one_error_line(classify_command(model_dir, "--input", "-", stdin=b'{"text": "ok"}\n{oops}\n'), "<stdin>:2:")


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--threshold", "2", "hi"], "--threshold"),
        (["--batch-size", "0", "hi"], "--batch-size"),
        (["--device", "cuda:7", "hi"], "--device"),
        (["--prompt", "a <<SEP>> b", "hi"], "--prompt"),
        (["fine", " \u200b "], "TEXT argument 2"),
        (["--input", "/no/such/file.jsonl"], "does not exist"),
    ],
)
def test_bad_arguments_are_one_error_line(model_dir, args, fragment):
    assert_one_error_line(classify(model_dir, *args), fragment)


def test_the_help_names_every_kind_of_input():
    result = in_process(lambda: cli.main(["--help"]))
    assert result.returncode == 0 and "JSONL, JSON, CSV, TSV, text" in " ".join(result.stdout.split())
    result = in_process(lambda: cli.main(["classify", "--help"]))  # a JSON array on standard input is refused
    assert result.returncode == 0 and "- (JSON lines on standard input)" in " ".join(result.stdout.split())


def test_a_missing_model_folder_says_so(tmp_path):
    command = [GLICLASS, "classify", "--model", str(tmp_path / "nope"), "--labels", LABELS, "hi"]
    assert_one_error_line(subprocess.run(command, capture_output=True, text=True), "does not exist")


def test_bad_labels_are_one_error_line(model_dir):
    command = [GLICLASS, "classify", "--model", str(model_dir), "--labels", "a,,b", "hi"]
    assert_one_error_line(subprocess.run(command, capture_output=True, text=True), "--labels", "empty label")


@pytest.mark.parametrize(
    "module, args, fragment",
    [
        (
            "training.ppo",
            ["--train", "/no/such/data.jsonl", "--out", "OUT"],
            "data path /no/such/data.jsonl does not exist",
        ),
        ("training.ppo", ["--train", "DATA", "--out", "OUT", "--resume"], "nothing to resume"),
        (
            "training.ppo",
            ["--train", "DATA", "--out", "OUT", "--reward", "f1", "--positive-weight", "2"],
            "--positive-weight goes with --reward recall_weighted",
        ),
        ("training.train", ["--config", "/no/such/config.yaml"], "config file /no/such/config.yaml does not exist"),
        ("training.train", ["--config", "CONFIG:model: [unclosed"], "config.yaml:2: not valid YAML"),
        ("training.train", ["--config", "CONFIG:model: minilm\ntrain: [x]\ntraining: {max_stepz: 1}"], "max_stepz"),
        ("training.train", ["--config", "CONFIG:train: [x]\ntraining: {max_steps: 1}"], "'model' is missing"),
        (
            "training.train",
            ["--config", "CONFIG:model: minilm\ntrain: [{path: x, wieght: 2}]\ntraining: {max_steps: 1}"],
            "train[0] has unknown key(s) wieght; the keys are path, name, weight, split",
        ),
        (
            "training.train",
            ["--config", "CONFIG:model: m\ntrain: x\ntraining: {max_steps: 1}"],
            "'train' must be a list",
        ),
        (
            "training.train",
            ["--config", "CONFIG:model: m\ntrain: [x]\neval: [x, {weight: 2}]\ntraining: {max_steps: 1}"],
            "eval[1] must be a data path or a mapping with a 'path'",
        ),
        (
            "training.train",
            [
                "--config",
                "CONFIG:model: minilm\nmodel_options: {pooling_stratgy: first}\ntrain: [x]\ntraining: {output_dir: o}",
            ],
            "model_options: unknown model option(s) 'pooling_stratgy'",
        ),
    ],
)
def test_training_commands_report_mistakes_in_one_line(model_dir, tmp_path, module, args, fragment):
    data = tmp_path / "data.jsonl"
    data.write_text('{"text": "the team won", "labels": ["sports"]}\n{"text": "vote", "labels": ["politics"]}\n')
    config = tmp_path / "config.yaml"
    for arg in args:
        if arg.startswith("CONFIG:"):
            config.write_text(arg.removeprefix("CONFIG:") + "\n")
    args = [str(data) if a == "DATA" else str(tmp_path / "out") if a == "OUT" else a for a in args]
    args = [str(config) if a.startswith("CONFIG:") else a for a in args]
    if module == "training.ppo":
        args = ["--model", str(model_dir), *args]
    main = importlib.import_module(f"{module}.cli" if module == "training.ppo" else module).main
    result = in_process(lambda: cli.run_command(f"python -m {module}", lambda: main(args)))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith(f"python -m {module}: error: ")]
    assert fragment in line
    assert not (tmp_path / "out").exists()


def test_a_sweep_into_a_folder_of_earlier_runs_is_refused(tmp_path):
    """A sweep does not resume: it names the earlier runs (the engine's message offered --resume)."""
    from training import sweep

    config = tmp_path / "minilm.yaml"
    config.write_text("model: minilm\ntrain: [x]\ntraining: {max_steps: 1}\n")
    (tmp_path / "out" / "minilm").mkdir(parents=True)
    argv = ["--configs", str(config), "--out", str(tmp_path / "out")]
    result = in_process(lambda: cli.run_command("python -m training.sweep", lambda: sweep.main(argv)))
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("python -m training.sweep: error: ") and "earlier runs of minilm" in result.stderr


@pytest.mark.parametrize(
    "module, args, fragment",
    [
        ("training.ppo", ["--model", "M", "--train", "/no/such/data.jsonl", "--out", "OUT"], "/no/such/data.jsonl"),
        ("training.train", ["--config", "/no/such/config.yaml"], "config file /no/such/config.yaml does not exist"),
        ("benchmarks", ["accuracy", "--device", "cuda:7"], "--device: device 'cuda:7' is not available"),
        ("training.sweep", ["--configs", "/no/such/config.yaml", "--out", "OUT"], "/no/such/config.yaml does not"),
        ("training.build_default_model", ["--config", "/no/such/config.yaml"], "/no/such/config.yaml does not exist"),
        ("benchmarks.few_shot", ["--model", "MODEL", "--datasets", "no_such_set"], "unknown dataset 'no_such_set'"),
    ],
)
def test_training_modules_report_mistakes_in_one_line(model_dir, tmp_path, module, args, fragment):
    """`python -m MODULE` itself (the cases above run `main` here): one error line, no out folder."""
    args = [str(tmp_path / "out") if a == "OUT" else str(model_dir) if a == "MODEL" else a for a in args]
    result = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    [line] = [
        line for line in result.stderr.splitlines() if line.startswith(f"python -m {module}") and ": error: " in line
    ]
    assert fragment in line
    assert not (tmp_path / "out").exists()


def test_a_run_that_diverges_ends_in_one_error_line(model_dir, tmp_path):
    """A loss that is not finite (here: learning rates of 1e6) says what to lower, without a traceback."""
    data = tmp_path / "data.jsonl"
    data.write_text('{"text": "the team won", "labels": ["sports"]}\n{"text": "vote", "labels": ["politics"]}\n')
    command = [sys.executable, "-m", "training.ppo", "--model", str(model_dir), "--train", str(data)]
    command += ["--out", str(tmp_path / "out"), "--encoder-lr", "1e6", "--head-lr", "1e6", "--max-steps", "20"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith("python -m training.ppo: error: ")]
    assert "lower the learning rate" in line or "NaN" in line, line


def test_output_file_survives_a_kill_and_resumes_with_one_line_per_input(model_dir, tmp_path):
    data, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    count = 1000
    data.write_text("".join(json.dumps({"id": i, "text": f"text {i} about the match"}) + "\n" for i in range(count)))
    command = [GLICLASS, "classify", "--model", str(model_dir), "--device", "cpu", "--labels", LABELS, "--input"]
    command += [str(data), "--output", str(out), "--chunk-size", "50", "--batch-size", "1"]
    running = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (out.exists() and out.stat().st_size > 0):
        assert running.poll() is None and time.time() < deadline, "the run ended before it could be killed"
        time.sleep(0.02)
    running.send_signal(signal.SIGKILL)
    running.wait()
    with out.open("a") as handle:  # as if killed in the middle of a line
        handle.write('{"id": 99999, "text": "half a li')
    written = len(out.read_text().splitlines()) - 1
    assert 0 < written < count
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"already holds {written} of {count} lines" in result.stderr and "texts/s" in result.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["id"] for line in lines] == list(range(count))
    assert all(sorted(line["labels"]) == ["politics", "sports"] for line in lines)


def test_an_output_file_of_another_run_is_refused(model_dir, tmp_path):
    data, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    data.write_text('{"text": "the team won"}\n{"text": "parliament voted"}\n')
    out.write_text('{"text": "something else", "labels": [], "scores": []}\n')
    assert_one_error_line(classify(model_dir, "--input", str(data), "--output", str(out)), f"{out}:1", "another run")
    assert out.read_text().count("\n") == 1  # left as it was


@pytest.mark.parametrize("content", ["keep me", "line one\nline two", '[\n  {"text": "the team won"}\n]'])
def test_an_existing_file_that_is_no_output_is_left_as_it_was(model_dir, tmp_path, content):
    """A notes file or a pretty-printed JSON given as --output by mistake: refused before anything
    is cut from it (a partial last line is only dropped from this command's own output)."""
    data, out = tmp_path / "in.jsonl", tmp_path / "notes.txt"
    data.write_text('{"text": "the team won"}\n{"text": "parliament voted"}\n')
    out.write_text(content)
    result = classify(model_dir, "--input", str(data), "--output", str(out))
    assert_one_error_line(result, f"--output {out} already holds text that is not a run of this command")
    assert out.read_text() == content and not (tmp_path / "notes.txt.run.json").exists()


def test_an_output_that_is_not_a_regular_file_is_refused(model_dir, tmp_path):
    data = tmp_path / "in.jsonl"
    data.write_text('{"text": "the team won"}\n')
    result = classify(model_dir, "--input", str(data), "--output", "/dev/null")
    assert_one_error_line(result, "--output /dev/null is not a regular file")
    assert not Path("/dev/null.run.json").exists()


def test_output_dash_is_standard_output(model_dir, tmp_path, monkeypatch):
    """As `--input -` is standard input (it wrote files named `-` and `-.run.json`)."""
    data = tmp_path / "in.jsonl"
    data.write_text('{"text": "the team won"}\n')
    monkeypatch.chdir(tmp_path)
    result = classify(model_dir, "--input", str(data), "--output", "-")
    assert result.returncode == 0 and json.loads(result.stdout)["text"] == "the team won", result.stderr
    assert [path.name for path in tmp_path.iterdir()] == ["in.jsonl"]


def test_an_output_that_is_a_folder_is_refused(model_dir, tmp_path, monkeypatch):
    """Also `.` and `..`, which have no name to put `.run.json` after."""
    data = tmp_path / "in.jsonl"
    data.write_text('{"text": "the team won"}\n')
    monkeypatch.chdir(tmp_path)
    for folder in (".", "..", str(tmp_path)):
        result = classify(model_dir, "--input", str(data), "--output", folder)
        assert_one_error_line(result, f"--output {folder} is a folder")


def test_resuming_after_the_model_folder_changed_is_refused(model_dir, tmp_path):
    """Retrained, recalibrated or upgraded in place: the same path, other scores."""
    model = tmp_path / "model"
    shutil.copytree(model_dir, model)
    data, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    data.write_text('{"text": "the team won"}\n{"text": "parliament voted"}\n')
    assert classify(model, "--input", str(data), "--output", str(out)).returncode == 0
    first = out.read_text().splitlines()[0]
    out.write_text(first + "\n")  # as if killed after one line
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "label_biases": {"sports": 1.5}}))
    assert_one_error_line(
        classify(model, "--input", str(data), "--output", str(out)), "other settings (model files changed)"
    )
    assert out.read_text() == first + "\n"


def test_a_labels_file_with_a_byte_order_mark_a_repeat_or_no_file(model_dir, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_bytes("\ufeffsports\npolitics\n".encode())
    command = ["classify", "--model", str(model_dir), "--device", "cpu", "--labels-file", str(labels)]
    result = in_process(lambda: cli.main([*command, "the team won"]))
    assert result.returncode == 0 and sorted(json.loads(result.stdout)["labels"]) == ["politics", "sports"]
    labels.write_text("sports\npolitics\n\nsports\n")
    result = in_process(lambda: cli.main([*command, "the team won"]))
    assert_one_error_line(result, f"{labels}:4: label 'sports' is given twice (first on line 1)")
    command[-1] = str(tmp_path / "missing.txt")
    result = in_process(lambda: cli.main([*command, "the team won"]))
    assert_one_error_line(result, "--labels-file", "missing.txt does not exist")


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"sports\r\npolitics\r\ncaf\xe9\r\n", "labels.txt:3: not valid UTF-8 (byte 0xe9)"),
        (b"\xef\xbb\xbfsports\rpolitics\rcaf\xe9\r", "labels.txt:3: not valid UTF-8 (byte 0xe9)"),
        (b"sports\n\npolitics <<LABEL>>\n", "labels.txt:3: candidate label 'politics <<LABEL>>' contains the reserved"),
        ("sports\n\u200b\n".encode(), "labels.txt:2: candidate_labels contains an empty label"),
        (b"sports\fmatches\npolitics\n\nsports\fmatches\n", "labels.txt:4: label 'sports\\x0cmatches' is given twice"),
    ],
)
def test_a_bad_line_of_a_labels_file_is_named_by_file_and_line(model_dir, tmp_path, content, fragment):
    labels = tmp_path / "labels.txt"
    labels.write_bytes(content)
    command = ["classify", "--model", str(model_dir), "--device", "cpu", "--labels-file", str(labels), "the team won"]
    assert_one_error_line(in_process(lambda: cli.main(command)), f"--labels-file {tmp_path / fragment}")


def test_a_label_too_long_for_the_model_is_named_by_its_labels_file_line(model_dir, tmp_path):
    import pickle

    from gliclass.prompt import LabelTooLongError

    long_label = " ".join(["word"] * 2000)
    labels, data, out = tmp_path / "labels.txt", tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    labels.write_text(f"sports\n\n{long_label}\npolitics\n")
    data.write_text('{"text": "the team won"}\n')
    command = ["classify", "--model", str(model_dir), "--device", "cpu", "--labels-file", str(labels)]
    result = in_process(lambda: cli.main([*command, "--output", str(out), "--input", str(data)]))
    assert_one_error_line(result, f"--labels-file {labels}:3: label 'word word", "tokens")
    assert not out.exists()
    shipped = in_process(lambda: cli.main([*command[:1], *command[3:], "the team won"]))  # the labels-apart model
    assert_one_error_line(shipped, f"--labels-file {labels}:3: label 'word word", "tokens")
    error = pickle.loads(pickle.dumps(LabelTooLongError("label 'x' needs 9 tokens", "x")))  # from a worker process
    assert (str(error), error.label) == ("label 'x' needs 9 tokens", "x")


def test_a_reader_that_stops_early_or_ctrl_c_ends_without_a_traceback(model_dir, tmp_path):
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps({"text": f"text number {i}"}) + "\n" for i in range(3000)))
    command = [GLICLASS, "classify", "--model", str(model_dir), "--device", "cpu", "--labels", LABELS]
    command += ["--input", str(data), "--chunk-size", "1"]
    piped = subprocess.run(
        ["bash", "-c", " ".join(f"'{part}'" for part in command) + " | head -1; echo status=${PIPESTATUS[0]} >&2"],
        capture_output=True,
        text=True,
    )
    assert piped.stdout.count("\n") == 1 and "status=141" in piped.stderr, piped.stderr
    assert "error" not in piped.stderr and "Traceback" not in piped.stderr, piped.stderr
    running = subprocess.Popen(  # SIGINT as in a terminal, also when pytest runs as a background job (SIG_IGN)
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert running.stdout.readline()  # classifying now
    running.send_signal(signal.SIGINT)
    _, stderr = running.communicate(timeout=120)
    assert running.returncode == 130 and "gliclass: interrupted" in stderr and "Traceback" not in stderr, stderr


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the worker processes in /proc (Linux)")
def test_ctrl_c_while_worker_processes_start_prints_no_traceback(model_dir, tmp_path):
    """Ctrl-C reaches the whole process group; workers still importing (seconds, before their
    initializer ignores it) printed KeyboardInterrupt tracebacks around `gliclass: interrupted`."""
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps({"text": f"text number {i}"}) + "\n" for i in range(100)))
    command = [GLICLASS, "classify", "--model", str(model_dir), "--device", "cpu", "--labels", LABELS, "--input"]
    command += [str(data), "--output", str(tmp_path / "out.jsonl"), "--num-processes", "2"]

    def own_group_with_ctrl_c():  # as a terminal's foreground job, also when pytest runs in the background
        os.setsid()
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    running = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, preexec_fn=own_group_with_ctrl_c
    )
    try:
        deadline = time.time() + 120
        workers: list[str] = []
        while len(workers) < 2:
            assert running.poll() is None and time.time() < deadline, "the run ended before its workers started"
            children = Path(f"/proc/{running.pid}/task/{running.pid}/children").read_text().split()
            workers = [pid for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
            time.sleep(0.01)
        time.sleep(0.2)  # the main process is past starting them; they are still importing
        os.killpg(running.pid, signal.SIGINT)
        _, stderr = running.communicate(timeout=120)
    finally:
        running.kill()
        running.wait()
    assert running.returncode == 130 and "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert stderr.splitlines()[-1] == "gliclass: interrupted"


def test_worker_processes_leave_ctrl_c_to_the_main_process(monkeypatch):
    """Ctrl-C reaches every process of the terminal's group: a worker that took it printed its own
    KeyboardInterrupt traceback before the main process's `gliclass: interrupted`."""
    import torch

    monkeypatch.setattr(cli, "_WORKER", {})
    handler = signal.getsignal(signal.SIGINT)
    try:
        cli._start_pool_worker({}, {}, torch.get_num_threads())
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, handler)


def test_resuming_with_other_settings_is_refused_and_with_the_same_finishes(model_dir, tmp_path):
    data, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    data.write_text('{"text": "the team won"}\n{"text": "parliament voted"}\n')
    assert classify(model_dir, "--input", str(data), "--output", str(out)).returncode == 0
    first = out.read_text().splitlines()[0]
    out.write_text(first + "\n")  # as if killed after one line
    changed = ["classify", "--model", str(model_dir), "--device", "cpu", "--labels", "world,science"]
    result = in_process(lambda: cli.main([*changed, "--input", str(data), "--output", str(out)]))
    assert_one_error_line(result, "other settings", "labels ['sports', 'politics'] -> ['world', 'science']")
    assert_one_error_line(classify(model_dir, "--input", str(data), "--output", str(out), "--threshold", "0.5"),
                          "threshold None -> 0.5")  # fmt: skip
    assert out.read_text() == first + "\n"
    result = classify(model_dir, "--input", str(data), "--output", str(out))
    assert result.returncode == 0 and "already holds 1 of 2" in result.stderr, result.stderr
    assert [json.loads(line)["text"] for line in out.read_text().splitlines()] == ["the team won", "parliament voted"]


def test_texts_with_unicode_line_separators_resume(model_dir, tmp_path):
    """U+2028 and U+0085 are written as they are (JSON allows it); only "\\n" ends an output line."""
    data, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    texts = ["the team won\u2028at home", "parliament\u0085voted", "stocks fell\u2029sharply"]
    data.write_text("".join(json.dumps({"text": text}) + "\n" for text in texts))
    assert classify(model_dir, "--input", str(data), "--output", str(out)).returncode == 0
    lines = out.read_bytes().split(b"\n")
    out.write_bytes(lines[0] + b"\n")  # as if killed after one line
    for done in (1, 3):
        result = classify(model_dir, "--input", str(data), "--output", str(out))
        assert result.returncode == 0 and f"already holds {done} of 3" in result.stderr, result.stderr
    assert [json.loads(line)["text"] for line in out.read_bytes().split(b"\n")[:-1]] == texts


def test_a_labels_file_takes_labels_with_commas_and_any_number(model_dir, tmp_path):
    labels = tmp_path / "labels.txt"
    names = ["cancel, close or freeze", "make a transfer"] + [f"intent {i}" for i in range(500)]
    labels.write_text("\n".join(names[:2]) + "\n\n  " + "\n".join(names[2:]) + "  \n")
    command = ["classify", "--model", str(model_dir), "--device", "cpu", "--labels-file", str(labels)]
    result = in_process(lambda: cli.main([*command, "close my account"]))
    assert result.returncode == 0, result.stderr
    assert sorted(json.loads(result.stdout)["labels"]) == sorted(names)  # commas kept, blanks and spaces dropped
    labels.write_text("\n \n")
    assert_one_error_line(in_process(lambda: cli.main([*command, "x"])), "holds no labels")


def test_an_output_named_for_another_format_is_refused(model_dir, tmp_path):
    """The results are plain JSON lines: `--output out.csv` silently got JSON lines under a CSV name,
    `--output out.jsonl.gz` uncompressed lines under a gzip name."""
    data = tmp_path / "in.csv"
    data.write_text("text\nthe team won\n")
    for name in ("out.csv", "out.TSV", "out.parquet", "out.jsonl.gz", "out.jsonl.zst"):
        result = classify(model_dir, "--input", str(data), "--output", str(tmp_path / name))
        assert_one_error_line(result, f"--output {tmp_path / name}: the results are JSON lines", ".jsonl")
        assert not (tmp_path / name).exists()


def test_an_output_that_is_the_input_or_has_no_predictions_is_refused(model_dir, tmp_path):
    data, copy = tmp_path / "in.jsonl", tmp_path / "copy.jsonl"
    data.write_text('{"text": "the team won"}\n')
    copy.write_text(data.read_text())
    assert_one_error_line(classify(model_dir, "--input", str(data), "--output", str(data)), "is the --input file")
    assert_one_error_line(classify(model_dir, "--input", str(data), "--output", str(copy)), f"{copy}:1", "no labels")
    assert data.read_text() == copy.read_text() == '{"text": "the team won"}\n'
    missing = tmp_path / "no" / "out.jsonl"
    assert_one_error_line(classify(model_dir, "--input", str(data), "--output", str(missing)), "--output", "folder")
    assert_one_error_line(classify(model_dir, "--input", str(data), "--split", "test"), "--split", "is a file")


@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_model_that_fails_to_load_writes_nothing(model_dir, tmp_path, processes):
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    (broken / "model.safetensors").write_text("not weights")
    data, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    data.write_text('{"text": "the team won"}\n{"text": "parliament voted"}\n')
    command = [GLICLASS, "classify", "--model", str(broken), "--labels", LABELS, "--input", str(data)]
    command += ["--output", str(out), "--num-processes", processes]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert_one_error_line(result, "safetensors")
    assert not out.exists() and not (tmp_path / "out.jsonl.run.json").exists()


def test_a_saved_dataset_is_an_input_too(model_dir, tmp_path):
    import datasets

    features = datasets.Features(
        {"sentence": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])}
    )
    rows = {"sentence": ["the team won", "stocks fell", "a vote"], "label": [1, 0, 1]}
    splits = datasets.DatasetDict({"test": datasets.Dataset.from_dict(rows, features=features)})
    splits["train"] = splits["test"]
    splits.save_to_disk(str(tmp_path / "saved"))
    args = ["--input", str(tmp_path / "saved"), "--text-column", "sentence"]
    assert_one_error_line(classify(model_dir, *args), "choose one with --split")
    result = classify(model_dir, *args, "--split", "test")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(line["sentence"], line["label"]) for line in lines] == list(zip(rows["sentence"], rows["label"]))
    assert all(sorted(line["labels"]) == ["politics", "sports"] for line in lines)
    splits["test"].save_to_disk(str(tmp_path / "one"))  # a Dataset, not a DatasetDict
    one = ["--input", str(tmp_path / "one"), "--text-column", "sentence", "--split", "test"]
    assert_one_error_line(classify(model_dir, *one), "is one dataset without splits; leave out --split test")


def test_dataset_values_beyond_json_are_written_as_text_or_refused_before_the_model_runs(model_dir, tmp_path):
    """Dates as ISO 8601, decimals as text, bytes as base64; a value with no JSON form (an image) is
    named by row and column before anything is classified (it failed after the first chunk)."""
    import datetime
    import decimal

    import datasets

    rows = {
        "text": ["the team won", "stocks fell"],
        "when": [datetime.datetime(2024, 1, 1, 12, 30), datetime.datetime(2024, 1, 2)],
        "price": [decimal.Decimal("1.50"), decimal.Decimal("2.25")],
        "blob": [b"ab", b"cd"],
    }
    datasets.Dataset.from_dict(rows).save_to_disk(str(tmp_path / "saved"))
    result = classify(model_dir, "--input", str(tmp_path / "saved"))
    assert result.returncode == 0, result.stderr
    first = json.loads(result.stdout.splitlines()[0])
    assert (first["when"], first["price"], first["blob"]) == ("2024-01-01T12:30:00", "1.50", "YWI=")
    image = pytest.importorskip("PIL.Image")
    features = datasets.Features({"text": datasets.Value("string"), "image": datasets.Image()})
    images = {"text": ["the team won", "stocks fell"], "image": [image.new("RGB", (2, 2))] * 2}
    datasets.Dataset.from_dict(images, features=features).save_to_disk(str(tmp_path / "images"))
    assert_one_error_line(
        classify(model_dir, "--input", str(tmp_path / "images")), "images[0]: column 'image'", "JSON output line"
    )


def test_worker_processes_give_the_same_lines_in_input_order(model_dir, tmp_path):
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps({"id": i, "text": f"text {i} about the vote"}) + "\n" for i in range(40)))
    outputs = []
    for processes in ("1", "2"):
        out = tmp_path / f"out{processes}.jsonl"
        result = classify_command(model_dir, "--input", str(data), "--output", str(out), "--chunk-size", "7",
                                  "--num-processes", processes)  # fmt: skip
        assert result.returncode == 0, result.stderr
        outputs.append([json.loads(line) for line in out.read_text().splitlines()])
    assert [line["id"] for line in outputs[1]] == list(range(40))
    for one, two in zip(*outputs):
        assert one["labels"] == two["labels"] and one["scores"] == pytest.approx(two["scores"], abs=1e-6)
