import io
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gliclass.data import DataError
from training.feedback.cli import key_press, main, read_texts
from training.feedback.data import FeedbackRecord, read_feedback, sole_writer
from training.feedback.session import FeedbackSession
from training.feedback.text_queue import FeedbackQueue

REPO = Path(__file__).resolve().parent.parent
LABELS = ["sports", "business", "politics", "science"]
TEXTS = ["the team won the match", "stocks fell sharply", "parliament passed the bill", "a new species was found"]
PREDICTIONS = {
    TEXTS[0]: [("sports", 0.9), ("business", 0.4)],
    TEXTS[1]: [("business", 0.8), ("politics", 0.3)],
    TEXTS[2]: [("politics", 0.7), ("business", 0.6)],
    TEXTS[3]: [("science", 0.6), ("sports", 0.2)],
}


def lines_of(path):
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


class Script:
    """Scripted answers; checks that every earlier answer is already on disk when the next is asked."""

    def __init__(self, path, answers, fail_at=None):
        self.path, self.answers, self.fail_at = path, list(answers), fail_at
        self.asked = 0
        self.lines_seen = []

    def __call__(self, prompt):
        self.lines_seen.append(len(lines_of(self.path)))
        if self.asked == self.fail_at:
            raise RuntimeError("the terminal went away")
        self.asked += 1
        return self.answers.pop(0)


def session(path, script, shown=None):
    return FeedbackSession(
        path, LABELS, lambda text: PREDICTIONS[text], script, script, show=(shown if shown is not None else []).append
    )


def test_scripted_session_saves_every_answer_at_once(tmp_path):
    out = tmp_path / "fb.jsonl"
    answers = [
        "a",
        "r",
        "m",
        "2",
        "n",  # text 0: accept sports, reject business, add missed "science" (2nd of the others)
        "x",
        "u",
        "a",
        "",  # text 1: an unknown key is asked again; unsure about business; accept politics; Enter = next
        "s",  # text 2: skipped (recorded as seen, nothing judged)
        "q",  # text 3: quit before answering: nothing written
    ]  # each finished text ends with a record without verdicts
    script = Script(out, answers)
    shown = []
    assert session(out, script, shown).run(TEXTS) == 5
    # answer k was on disk before prompt k+1: the line count grows right after each saving answer
    assert script.lines_seen == [0, 1, 2, 2, 3, 4, 4, 4, 5, 6, 7]
    assert any("please press one of" in line for line in shown)
    assert lines_of(out)[2] == {"text": TEXTS[0], "candidate_labels": LABELS, "accepted": ["science"], "rejected": []}
    records = read_feedback(out)
    assert [(r.text, r.accepted, r.rejected) for r in records] == [
        (TEXTS[0], ["sports", "science"], ["business"]),
        (TEXTS[1], ["politics"], []),
        (TEXTS[2], [], []),
    ]


def test_a_crash_midway_loses_nothing_and_resuming_makes_no_duplicates(tmp_path):
    out = tmp_path / "fb.jsonl"
    with pytest.raises(RuntimeError, match="terminal went away"):  # the error is not swallowed
        session(out, Script(out, ["a", "r", "n", "a"], fail_at=4)).run(TEXTS)
    before = lines_of(out)
    assert [(line["text"], line["accepted"], line["rejected"]) for line in before] == [
        (TEXTS[0], ["sports"], []),
        (TEXTS[0], [], ["business"]),
        (TEXTS[0], [], []),  # text 0 finished
        (TEXTS[1], ["business"], []),  # text 1 cut off after its first answer
    ]
    shown = []
    resumed = session(out, Script(out, ["r", "n", "r", "a", "n", "a", "r", "n"]), shown)
    assert resumed.pending(TEXTS) == TEXTS[1:]  # text 1 is asked again, for the labels not yet answered
    assert resumed.run(TEXTS) == 5
    assert any("resuming: 1 of 4" in line for line in shown) and not any("business (0.80)" in line for line in shown)
    after = lines_of(out)
    assert after[: len(before)] == before
    pairs = [(line["text"], label) for line in after for label in line["accepted"] + line["rejected"]]
    assert len(pairs) == len(set(pairs)) == 8
    assert [record.text for record in read_feedback(out)] == TEXTS


def test_a_file_cut_mid_line_or_without_its_last_newline_reads_again_and_loses_nothing(tmp_path):
    out = tmp_path / "fb.jsonl"
    record = {"text": TEXTS[0], "candidate_labels": LABELS, "accepted": ["sports"], "rejected": []}
    out.write_text(json.dumps(record))  # edited by hand: no newline at the end
    session(out, Script(out, ["r", "n", "q"])).run(TEXTS)
    assert [line["accepted"] + line["rejected"] for line in lines_of(out)] == [["sports"], ["business"], []]
    out.write_text(out.read_text() + '{"text": "stocks fe')  # killed while writing
    with pytest.warns(UserWarning, match=r"fb.jsonl:4: a half-written last line .* moved to .*fb.jsonl.partial"):
        assert session(out, Script(out, ["q"])).pending(TEXTS) == TEXTS[1:]
    assert (tmp_path / "fb.jsonl.partial").read_text() == '{"text": "stocks fe\n'
    assert len(lines_of(out)) == 3


def test_the_terminal_loop_and_the_web_page_resume_each_others_files(tmp_path):
    """Both end a finished text with a record without verdicts: a web answer is finished for the terminal,
    and a text cut off in the terminal comes back on the page with only its labels not yet answered."""
    scores = {text: [dict(PREDICTIONS[text]).get(label, 0.0) for label in LABELS] for text in TEXTS}
    web = FeedbackQueue(TEXTS, LABELS, tmp_path / "web.jsonl", lambda texts: [scores[t] for t in texts], order="file")
    web.answer(0, ["sports"], ["business"])
    web.close()
    assert session(tmp_path / "web.jsonl", Script(tmp_path / "web.jsonl", [])).pending(TEXTS) == TEXTS[1:]
    cut = tmp_path / "terminal.jsonl"
    session(cut, Script(cut, ["a", "q"])).run(TEXTS)  # accepts sports for text 0, then quits inside it
    page = FeedbackQueue(TEXTS, LABELS, cut, lambda texts: [scores[t] for t in texts], order="file")
    assert page.pending() == [0, 1, 2, 3]
    item = page.next_item()
    assert item.text == TEXTS[0] and "sports" not in dict(item.scores)  # answered already, not asked again
    page.answer(item.id, [], ["business"])
    page.close()
    assert read_feedback(cut)[0].accepted == ["sports"] and read_feedback(cut)[0].rejected == ["business"]
    assert session(cut, Script(cut, [])).pending(TEXTS) == TEXTS[1:]


def test_a_text_cut_off_is_asked_again_after_other_texts_were_answered(tmp_path):
    """A later session in another order (or on the page) answers other texts first: the text cut off
    earlier is no longer the last one in the file, and still has its labels not yet answered asked."""
    out = tmp_path / "fb.jsonl"
    session(out, Script(out, ["a", "q"])).run(TEXTS)  # text 0: sports accepted, then quit inside it
    session(out, Script(out, ["s", "q"])).run(TEXTS[1:] + TEXTS[:1])  # text 1 skipped first
    resumed = session(out, Script(out, []))
    assert resumed.pending(TEXTS) == [TEXTS[0], *TEXTS[2:]]
    assert resumed.judged == {TEXTS[0]: {"sports"}}
    scores = {text: [dict(PREDICTIONS[text]).get(label, 0.0) for label in LABELS] for text in TEXTS}
    page = FeedbackQueue(TEXTS, LABELS, out, lambda texts: [scores[t] for t in texts], order="file")
    item = page.next_item()
    page.close()
    assert page.progress() == {"answered": 1, "total": 4}
    assert item.text == TEXTS[0] and "sports" not in dict(item.scores)


def test_a_text_given_twice_is_asked_once(tmp_path):
    out = tmp_path / "fb.jsonl"
    shown = []
    session(out, Script(out, ["a", "r", "n"]), shown).run([TEXTS[0], TEXTS[0]])
    assert sum(TEXTS[0] in line for line in shown) == 1 and "[1/1]" in "".join(shown)
    assert read_feedback(out)[0].accepted == ["sports"]


def test_the_same_text_answered_under_another_label_order_is_one_record(tmp_path):
    path = tmp_path / "fb.jsonl"
    first = {"text": "x", "candidate_labels": ["a", "b"], "accepted": ["a"], "rejected": []}
    second = {"text": "x", "candidate_labels": ["b", "a"], "accepted": [], "rejected": ["a"]}
    path.write_text(json.dumps(first) + "\n" + json.dumps(second) + "\n")
    with pytest.raises(DataError, match=r"fb.jsonl:2: label 'a' is rejected here but was accepted at .*fb.jsonl:1"):
        read_feedback(path)


@pytest.mark.parametrize(
    "line, message",
    [
        ("{oops", "not valid JSON"),
        ({"candidate_labels": ["a"], "accepted": ["a"]}, "no text"),
        ({"text": "x", "candidate_labels": [], "accepted": []}, "candidate_labels.*empty"),
        ({"text": "x", "candidate_labels": ["a", "a"]}, "given twice"),
        ({"text": "x", "candidate_labels": ["a"], "accepted": "a"}, "'accepted' must be a list"),
        ({"text": "x", "candidate_labels": ["a"], "rejected": ["b"]}, r"rejected labels \['b'\] are not among"),
        (
            {"text": "x", "candidate_labels": ["a", "b"], "accepted": ["a"], "rejected": ["a"]},
            "both accepted and rejected",
        ),
        (
            {"text": "good", "candidate_labels": ["a", "b"], "rejected": ["a"]},
            r"'a' is rejected here but was accepted at .*fb.jsonl:1",
        ),
    ],
)
def test_reader_errors_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "fb.jsonl"
    first = {"text": "good", "candidate_labels": ["a", "b"], "accepted": ["a"], "rejected": []}
    path.write_text(json.dumps(first) + "\n\n" + (line if isinstance(line, str) else json.dumps(line)) + "\n")
    with pytest.raises(DataError, match=rf"fb.jsonl:3: .*{message}"):
        read_feedback(path)


def test_reader_merges_a_log_of_answers(tmp_path):
    path = tmp_path / "fb.jsonl"
    records = [
        FeedbackRecord("t", ["a", "b", "c"], ["a"], []),
        FeedbackRecord("u", ["a", "b"], [], ["b"]),
        FeedbackRecord("t", ["a", "b", "c"], ["a"], ["c"]),
        FeedbackRecord("t", ["a", "b"], ["b"], []),  # other candidates: another episode
    ]
    path.write_text("".join(record.to_json() + "\n" for record in records))
    assert read_feedback(path) == [
        FeedbackRecord("t", ["a", "b", "c"], ["a"], ["c"]),
        FeedbackRecord("u", ["a", "b"], [], ["b"]),
        FeedbackRecord("t", ["a", "b"], ["b"], []),
    ]


def test_input_texts_are_checked(tmp_path):
    path = tmp_path / "texts.jsonl"
    path.write_text('{"text": "one"}\n{"label": "x"}\n')
    with pytest.raises(DataError, match="texts.jsonl:2: the record has no text"):
        read_texts(path)


def feedback_arguments(model_dir, texts, out) -> list[str]:
    """The command-line arguments of a feedback session over `texts`, two labels shown per text."""
    return [
        "--model",
        str(model_dir),
        "--input",
        str(texts),
        "--labels",
        ",".join(LABELS),
        "--out",
        str(out),
        "--top",
        "2",
    ]


def test_command_line_reads_answers_from_piped_stdin(make_model, tmp_path, monkeypatch, capsys):
    model_dir = tmp_path / "model"
    make_model().save_pretrained(model_dir)
    texts = tmp_path / "texts.jsonl"
    texts.write_text("".join(json.dumps({"text": text}) + "\n" for text in TEXTS[:2]))
    out = tmp_path / "fb.jsonl"
    monkeypatch.setattr(sys, "stdin", io.StringIO("a\nr\nn\nq\n"))
    main(feedback_arguments(model_dir, texts, out))
    [record] = read_feedback(out)
    assert record.text == TEXTS[0] and len(record.accepted) == 1 and len(record.rejected) == 1
    assert "2 answers saved" in capsys.readouterr().err


def test_command_line_says_in_one_warning_line_that_a_half_written_answer_was_set_aside(
    make_model, tmp_path, monkeypatch, capsys
):
    """A session killed while writing, then restarted: one `warning:` line, not Python's warning
    format with the source line of `warnings.warn` under it."""
    model_dir = tmp_path / "model"
    make_model().save_pretrained(model_dir)
    texts = tmp_path / "texts.jsonl"
    texts.write_text("".join(json.dumps({"text": text}) + "\n" for text in TEXTS[:2]))
    out = tmp_path / "fb.jsonl"
    out.write_text('{"text": "the team w')
    monkeypatch.setattr(sys, "stdin", io.StringIO("q\n"))
    main(feedback_arguments(model_dir, texts, out))
    warned = [line for line in capsys.readouterr().err.splitlines() if "half-written" in line]
    assert warned == [
        f"python -m training.feedback: warning: {out}:1: a half-written last line (a crash while writing?) "
        f"was moved to {out}.partial."
    ]


def test_command_line_refuses_the_input_as_output_and_answers_for_other_labels(tmp_path):
    texts = tmp_path / "texts.jsonl"
    texts.write_text("".join(json.dumps({"text": text}) + "\n" for text in TEXTS[:2]))
    with pytest.raises(ValueError, match="is the --input file"):
        main(feedback_arguments(tmp_path / "no-model", texts, texts))
    out = tmp_path / "fb.jsonl"
    other = {"text": TEXTS[0], "candidate_labels": ["weather", "travel"], "accepted": ["travel"], "rejected": []}
    out.write_text(json.dumps(other) + "\n")
    with pytest.raises(ValueError, match="fb.jsonl:1: answered for the labels"):
        main(feedback_arguments(tmp_path / "no-model", texts, out))
    assert out.read_text() == json.dumps(other) + "\n"
    with pytest.raises(ValueError, match="--out .* is a folder"):
        main(feedback_arguments(tmp_path / "no-model", texts, tmp_path))
    with pytest.raises(ValueError, match="--out .*: the folder .*missing does not exist"):
        main(feedback_arguments(tmp_path / "no-model", texts, tmp_path / "missing" / "fb.jsonl"))
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(ValueError, match="--input .*empty.jsonl holds no texts"):
        main(feedback_arguments(tmp_path / "no-model", tmp_path / "empty.jsonl", tmp_path / "new.jsonl"))
    evaluation = tmp_path / "data" / "eval" / "sst2"
    evaluation.mkdir(parents=True)
    (tmp_path / "data" / "train").mkdir()
    (evaluation / "test.jsonl").write_text(texts.read_text())
    with pytest.raises(ValueError, match="is an evaluation set"):
        main(feedback_arguments(tmp_path / "no-model", evaluation / "test.jsonl", tmp_path / "new.jsonl"))
    assert not (tmp_path / "new.jsonl").exists()
    with pytest.raises(OSError):  # nothing was answered: the new --out is not left behind
        main(feedback_arguments(tmp_path / "no-model", texts, tmp_path / "new.jsonl"))
    assert not (tmp_path / "new.jsonl").exists()


def test_a_second_session_on_the_same_answers_file_is_refused(tmp_path):
    texts = tmp_path / "texts.jsonl"
    texts.write_text("".join(json.dumps({"text": text}) + "\n" for text in TEXTS[:2]))
    out = tmp_path / "fb.jsonl"
    answer = {"text": TEXTS[0], "candidate_labels": LABELS, "accepted": ["sports"], "rejected": []}
    out.write_text(json.dumps(answer) + "\n")
    with sole_writer(out):  # the first session
        with pytest.raises(ValueError, match="fb.jsonl is being written by another feedback session"):
            main(feedback_arguments(tmp_path / "no-model", texts, out))
    assert out.read_text() == json.dumps(answer) + "\n"


def test_single_key_answers_on_a_terminal(make_model, tmp_path):
    """On a TTY each command is one key press, no Enter."""
    pytest.importorskip("termios")
    model_dir = tmp_path / "model"
    make_model().save_pretrained(model_dir)
    texts = tmp_path / "texts.jsonl"
    texts.write_text("".join(json.dumps({"text": text}) + "\n" for text in TEXTS[:2]))
    out = tmp_path / "fb.jsonl"
    command = [sys.executable, "-m", "training.feedback", *feedback_arguments(model_dir, texts, out)]
    controller, terminal = os.openpty()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    process = subprocess.Popen(command, stdin=terminal, stdout=terminal, stderr=terminal, cwd=REPO, env=env)
    os.close(terminal)
    seen = b""

    def answer(prompt: bytes, key: bytes) -> None:
        nonlocal seen
        deadline = time.time() + 60
        while prompt not in seen:
            assert time.time() < deadline and process.poll() is None, seen.decode(errors="replace")
            if select.select([controller], [], [], 0.1)[0]:
                seen += os.read(controller, 4096)
        seen = seen[seen.index(prompt) + len(prompt) :]
        os.write(controller, key)

    try:
        answer(b"[q]uit: ", b"a")
        answer(b"[q]uit: ", b"r")
        answer(b"[n]ext text, [q]uit: ", b"n")
        answer(b"[q]uit: ", b"q")
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
        os.close(controller)
    [record] = read_feedback(out)
    assert record.text == TEXTS[0] and len(record.accepted) == 1 and len(record.rejected) == 1


def test_an_arrow_or_function_key_is_one_key_not_a_command(tmp_path):
    """Up is ESC [ A and F4 ESC O S: read a character at a time, Up accepted the label (A) and F4 skipped the text."""
    tty = pytest.importorskip("tty")
    controller, terminal = os.openpty()
    try:
        tty.setcbreak(terminal)
        os.write(controller, "\x1b[Aa\x1bOS\x1b[1;5Cé\x1b".encode())
        keys = [key_press(terminal) for _ in range(6)]
    finally:
        os.close(controller)
        os.close(terminal)
    assert keys == ["\x1b[A", "a", "\x1bOS", "\x1b[1;5C", "é", "\x1b"]
    out = tmp_path / "fb.jsonl"
    session(out, Script(out, ["\x1b[A", "\x1bOS", "q"])).run(TEXTS[:1])
    assert not out.exists() or lines_of(out) == []


def test_control_characters_of_a_text_are_shown_as_escapes_in_the_terminal(tmp_path):
    """A text could otherwise hide itself (ESC [ 8 m), clear the screen or overwrite its line (CR)."""
    text = "visible \x1b[8mhidden\x1b[0m\rover\x07 line\n\ttab"
    predictions = {text: [("sports", 0.9)]}
    out, shown = tmp_path / "fb.jsonl", []
    FeedbackSession(out, LABELS, predictions.get, Script(out, ["a", "q"]), input, show=shown.append).run([text])
    assert "visible \\x1b[8mhidden\\x1b[0m\\rover\\x07 line\n\ttab" in shown[0]
    assert not any(char in line for line in shown for char in "\x1b\r\x07")
    assert lines_of(out)[0]["text"] == text  # the answer is for the text as given


@pytest.mark.parametrize("content", ["my notes\nthe last line, no newline", "one line, no newline"])
def test_an_out_that_is_some_other_file_is_refused_unchanged(tmp_path, content):
    """Only a record cut off while being written is moved to FILE.partial; another file's last line is not
    (it was moved, and a one-line file was emptied and then used for answers)."""
    texts = tmp_path / "texts.jsonl"
    texts.write_text("".join(json.dumps({"text": text}) + "\n" for text in TEXTS[:2]))
    notes = tmp_path / "notes.txt"
    notes.write_text(content)
    with pytest.raises(DataError, match=r"notes.txt:1: not valid JSON"):
        main(feedback_arguments(tmp_path / "no-model", texts, notes))
    assert notes.read_text() == content and not (tmp_path / "notes.txt.partial").exists()


def test_labels_that_hold_commas_come_from_a_labels_file(make_model, tmp_path, monkeypatch):
    """`--labels "arts, culture,sports"` can only split into three labels; a file gives one label a line."""
    model_dir = tmp_path / "model"
    make_model().save_pretrained(model_dir)
    texts = tmp_path / "texts.jsonl"
    texts.write_text(json.dumps({"text": TEXTS[0]}) + "\n")
    labels = tmp_path / "labels.txt"
    labels.write_text("arts, culture\nsports\n")
    out = tmp_path / "fb.jsonl"
    arguments = ["--model", str(model_dir), "--input", str(texts), "--labels-file", str(labels), "--out", str(out)]
    monkeypatch.setattr(sys, "stdin", io.StringIO("a\nr\n"))
    main(arguments)
    [record] = read_feedback(out)
    assert record.candidate_labels == ["arts, culture", "sports"] and len(record.accepted + record.rejected) == 2
    labels.write_text("sports\nsports\n")
    with pytest.raises(ValueError, match=r"labels.txt:2: label 'sports' is given twice"):
        main(arguments)
