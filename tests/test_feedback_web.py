"""The feedback page's server and its asking order: a real server on port 0, driven with urllib."""

import http.client
import io
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from feedback_files import web_answers

from training.feedback.cli import main
from training.feedback.data import read_feedback
from training.feedback.ordering import asking_order, uncertainty_key
from training.feedback.scoring import ModelScorer
from training.feedback.text_queue import FeedbackQueue
from training.feedback.web import FeedbackServer

REPO = Path(__file__).resolve().parent.parent
LABELS = ["sports", "business", "politics", "science"]
HOSTILE = ["<script>alert('x')</script> the match", '<img src=x onerror="alert(1)"> stocks fell']
WORDS = "match budget stocks species team bank smartphone movie food president".split()
TEXTS = HOSTILE + [f"the {first} and the {second}" for first, second in itertools.permutations(WORDS, 2)][:22]


@pytest.fixture
def model_dir(make_model, tmp_path):
    folder = tmp_path / "model"
    make_model().save_pretrained(folder)
    return folder


@contextmanager
def running(queue, top=2):
    server = FeedbackServer(queue, "127.0.0.1", 0, top)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        queue.close()


def request(server, path, body=None, token=None, headers=None, method=None):
    """(status, decoded JSON or text) of one request; `token=None` sends the server's own."""
    data = None if body is None else json.dumps(body).encode()
    sent = {"Content-Type": "application/json"} if body is not None else {}
    sent["X-Feedback-Token"] = server.token if token is None else token
    sent.update(headers or {})
    call = urllib.request.Request(server.url.rstrip("/") + path, data=data, headers=sent, method=method)
    try:
        with urllib.request.urlopen(call, timeout=30) as response:
            status, raw, kind = response.status, response.read(), response.headers.get_content_type()
    except urllib.error.HTTPError as error:
        status, raw, kind = error.code, error.read(), error.headers.get_content_type()
    return status, json.loads(raw) if kind == "application/json" else raw.decode()


def queue_for(tmp_path, model_dir, texts=TEXTS, **options):
    return FeedbackQueue(texts, LABELS, tmp_path / "fb.jsonl", ModelScorer(str(model_dir), LABELS), **options)


# --- the asking order ---------------------------------------------------------------------------


def test_uncertainty_prefers_small_margins_or_scores_near_the_threshold():
    torn, sure = [0.50, 0.46, 0.10], [0.90, 0.10, 0.05]
    assert uncertainty_key(torn) < uncertainty_key(sure)
    near, far = [0.31, 0.0], [0.9, 0.1]
    assert uncertainty_key(near, threshold=0.3) < uncertainty_key(far, threshold=0.3)
    assert uncertainty_key([0.8, 0.1], threshold=0.3) < uncertainty_key([0.95, 0.05], threshold=0.3)
    assert uncertainty_key([0.55]) < uncertainty_key([0.99])  # one label: its distance to 0.5
    with pytest.raises(ValueError, match="at least one label score"):
        uncertainty_key([])


def test_asking_orders():
    scores = [[0.9, 0.1], [0.5, 0.49], [0.7, 0.3], [0.6, 0.55]]
    assert asking_order(scores, "uncertain") == [1, 3, 2, 0]
    assert asking_order(scores, "uncertain", threshold=0.25) == [2, 0, 1, 3]
    assert asking_order(scores, "file") == [0, 1, 2, 3]
    shuffled = [asking_order([[0.5]] * 50, "random", seed=seed) for seed in (0, 0, 1)]
    assert sorted(shuffled[0]) == list(range(50)) and shuffled[0] == shuffled[1] != shuffled[2]
    with pytest.raises(ValueError, match="order must be one of uncertain, random, file"):
        asking_order(scores, "smart")


def test_queue_hands_out_texts_in_uncertainty_order_and_rescores_with_the_model_on_disk(
    tmp_path, model_dir, make_model
):
    queue = queue_for(tmp_path, model_dir, rescore_every=2)
    scorer = ModelScorer(str(model_dir), LABELS)
    expected = asking_order(scorer(queue.texts), "uncertain")
    assert queue.pending() == expected
    handed = [queue.next_item().id for _ in range(3)]  # no tab: each call takes a fresh text
    assert handed == expected[:3]
    make_model(seed=1).save_pretrained(model_dir)  # e.g. a PPO run writing its result there
    queue.answer(handed[0], ["sports"], [])
    assert queue.rescores == 1  # not yet: every 2 answers
    queue.answer(handed[1], [], [])
    assert queue.rescores == 2
    rest = [index for index in range(len(TEXTS)) if index not in handed[:2]]
    new_scores = ModelScorer(str(model_dir), LABELS)([TEXTS[index] for index in rest])
    assert queue.pending() == [rest[position] for position in asking_order(new_scores, "uncertain")]
    assert queue.pending() != [index for index in expected if index in rest]  # the new model changed the order
    shutil.rmtree(model_dir)  # the model folder is being rewritten: the answer is saved all the same
    order = queue.pending()
    queue.answer(queue.next_item().id, [], [])
    assert queue.answer(queue.next_item().id, [], ["sports"]) == {"answered": 4, "total": len(TEXTS)}  # due here
    assert "OSError" in queue.rescore_error and queue.pending() == order[2:]
    lines = [json.loads(line) for line in (tmp_path / "fb.jsonl").read_text().splitlines()]
    assert len(lines) == 6  # the two answers with verdicts are each followed by the record that ends a text
    assert [(line["accepted"], line["rejected"]) for line in lines[:2]] == [(["sports"], []), ([], [])]
    queue.close()


# --- the server ---------------------------------------------------------------------------------


def test_page_carries_the_token_and_security_headers_and_never_the_texts(tmp_path, model_dir):
    with running(queue_for(tmp_path, model_dir)) as server:
        with urllib.request.urlopen(server.url, timeout=30) as response:
            page, headers = response.read().decode(), response.headers
        assert f'content="{server.token}"' in page and len(server.token) >= 40
        assert "script-src 'self'" in headers["Content-Security-Policy"] and headers["X-Frame-Options"] == "DENY"
        assert "onerror" not in page and "alert" not in page  # texts come only as JSON
        status, script = request(server, "/page.js")
        assert status == 200 and "textContent" in script
        assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write", script)
        assert request(server, "/nothing")[0] == 404


def test_every_post_needs_the_token_and_a_same_site_origin(tmp_path, model_dir):
    with running(queue_for(tmp_path, model_dir)) as server:
        for token in ("", "wrong", server.token[:-1]):
            status, reply = request(server, "/api/next", {}, token=token)
            assert status == 403 and "X-Feedback-Token" in reply["error"]
        assert request(server, "/api/answer", {"id": 0, "accepted": ["sports"]}, token="")[0] == 403
        evil = {"Origin": "http://evil.example"}
        assert request(server, "/api/answer", {"id": 0, "accepted": ["sports"]}, headers=evil)[0] == 403
        assert request(server, "/api/next", {}, headers={"Sec-Fetch-Site": "cross-site"})[0] == 403
        rebound = {"Host": f"evil.example:{server.server_address[1]}"}  # DNS rebinding: the page is refused too
        assert request(server, "/", headers=rebound)[0] == 421
        assert request(server, "/api/next", {}, headers=rebound)[0] == 421
        same = {"Origin": server.url.rstrip("/")}
        assert request(server, "/api/next", {}, headers=same)[0] == 200
        assert not (tmp_path / "fb.jsonl").read_text()


def test_bodies_are_size_limited_and_json_only(tmp_path, model_dir):
    with running(queue_for(tmp_path, model_dir)) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=30)
        connection.putrequest("POST", "/api/answer")
        for name, value in (("Content-Type", "application/json"), ("Content-Length", str(10**9))):
            connection.putheader(name, value)
        connection.putheader("X-Feedback-Token", server.token)
        connection.endheaders()  # the declared size alone is refused: nothing is read
        response = connection.getresponse()
        assert response.status == 413 and "over 65536 bytes" in json.loads(response.read())["error"]
        connection.close()
        assert request(server, "/api/next", {}, headers={"Content-Type": "text/plain"})[0] == 415
        call = urllib.request.Request(
            server.url + "api/next",
            data=b"{not json",
            headers={"Content-Type": "application/json", "X-Feedback-Token": server.token},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(call, timeout=30)
        assert refused.value.code == 400 and "not valid JSON" in json.loads(refused.value.read())["error"]
        assert request(server, "/api/next", [1, 2])[0] == 400
        assert not (tmp_path / "fb.jsonl").read_text()


def test_html_laden_texts_come_back_as_plain_strings(tmp_path, model_dir):
    with running(queue_for(tmp_path, model_dir, order="file")) as server:
        shown = [request(server, "/api/next", {"tab": f"t{index}"})[1]["item"]["text"] for index in range(2)]
    assert shown == HOSTILE


def test_answers_are_fsynced_in_the_terminal_format_before_the_reply(tmp_path, model_dir):
    out = tmp_path / "fb.jsonl"
    with running(queue_for(tmp_path, model_dir, order="file")) as server:
        status, reply = request(server, "/api/next", {"tab": "a"})
        item = reply["item"]
        assert status == 200 and reply["progress"] == {"answered": 0, "total": len(TEXTS)}
        assert len(item["shown"]) == 2 and len(item["others"]) == 2
        assert [entry["score"] for entry in item["shown"] + item["others"]] == sorted(
            (entry["score"] for entry in item["shown"] + item["others"]), reverse=True
        )
        missed = item["others"][0]["label"]
        answer = {"id": item["id"], "accepted": [item["shown"][0]["label"], missed], "rejected": []}
        status, reply = request(server, "/api/answer", answer)
        assert status == 200 and reply["progress"]["answered"] == 1
        assert web_answers(out) == [
            {"text": TEXTS[0], "candidate_labels": LABELS, "accepted": answer["accepted"], "rejected": []}
        ]
        assert request(server, "/api/answer", {"id": 1, "accepted": [], "rejected": []})[0] == 200  # a skip
        assert web_answers(out)[1] == {"text": TEXTS[1], "candidate_labels": LABELS, "accepted": [], "rejected": []}
        for bad, status, message in (
            ({"id": 2, "accepted": ["cooking"]}, 400, r"accepted labels \['cooking'\] are not among"),
            ({"id": 2, "accepted": ["sports"], "rejected": ["sports"]}, 400, "both accepted and rejected"),
            ({"id": 2, "accepted": "sports"}, 400, "'accepted' must be a list"),
            ({"id": 999, "accepted": []}, 404, "no text has id 999"),
            ({"id": "2", "accepted": []}, 404, "no text has id '2'"),
        ):
            got, reply = request(server, "/api/answer", bad)
            assert got == status and re.search(message, reply["error"])
        assert request(server, "/api/answer", {"id": 0, "accepted": ["science"]})[0] == 409
    assert [record.text for record in read_feedback(out)] == TEXTS[:2]
    assert web_answers(out)[0]["accepted"] == answer["accepted"]  # the refused answer changed nothing


def test_two_clients_at_once_never_duplicate_or_lose_an_answer(tmp_path, model_dir):
    out = tmp_path / "fb.jsonl"
    outcomes = {"saved": [], "refused": []}
    race = threading.Barrier(2)

    def client(tab, first_ids):
        for text_id in first_ids:  # both answer the same texts at the same moment
            race.wait()
            status, _ = request(server, "/api/answer", {"id": text_id, "accepted": ["science"]})
            outcomes["saved" if status == 200 else "refused"].append((text_id, status))
        while True:  # then each works through the queue
            item = request(server, "/api/next", {"tab": tab})[1]["item"]
            if item is None:
                return
            status, _ = request(server, "/api/answer", {"id": item["id"], "accepted": [item["shown"][0]["label"]]})
            outcomes["saved" if status == 200 else "refused"].append((item["id"], status))

    with running(queue_for(tmp_path, model_dir)) as server:
        clients = [threading.Thread(target=client, args=(tab, [20, 21, 22, 23])) for tab in ("a", "b")]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join(timeout=60)
        assert request(server, "/api/next", {"tab": "c"})[1] == {
            "item": None,
            "progress": {"answered": len(TEXTS), "total": len(TEXTS)},
        }
    saved = sorted(text_id for text_id, _ in outcomes["saved"])
    assert saved == list(range(len(TEXTS)))  # each text saved exactly once
    assert {status for _, status in outcomes["refused"]} <= {409}
    assert sorted(text_id for text_id, _ in outcomes["refused"] if text_id >= 20)[:4] == [20, 21, 22, 23]
    written = [line["text"] for line in web_answers(out)]
    assert sorted(written) == sorted(TEXTS) and len(written) == len(set(written))


def test_a_tab_keeps_its_text_on_reload_and_tabs_get_different_texts(tmp_path, model_dir):
    queue = queue_for(tmp_path, model_dir)
    first = queue.next_item("a")
    assert queue.next_item("a").id == first.id  # a reload shows the same text
    second = queue.next_item("b")
    assert second.id != first.id and not second.held_elsewhere
    queue.answer(first.id, [], [])
    assert queue.next_item("a").id not in (first.id, second.id)
    queue.close()


def test_a_restart_resumes(tmp_path, model_dir):
    with running(queue_for(tmp_path, model_dir, order="file")) as server:
        for text_id in (0, 1, 2):
            assert request(server, "/api/answer", {"id": text_id, "rejected": ["politics"]})[0] == 200
    again = queue_for(tmp_path, model_dir, order="file", texts=list(reversed(TEXTS)))  # another input order
    with running(again) as server:
        status, reply = request(server, "/api/next", {"tab": "a"})
        assert reply["progress"] == {"answered": 3, "total": len(TEXTS)}
        assert reply["item"]["text"] == TEXTS[-1]
        answered_before = {again.texts.index(text) for text in TEXTS[:3]}
        assert not answered_before & set(again.pending())
        assert request(server, "/api/answer", {"id": again.texts.index(TEXTS[0])})[0] == 409
    assert len(web_answers(tmp_path / "fb.jsonl")) == 3


def test_web_options_are_checked(tmp_path, model_dir, capsys):
    texts = tmp_path / "texts.jsonl"
    texts.write_text(json.dumps({"text": "one"}) + "\n")
    common = ["--model", str(model_dir), "--input", str(texts), "--labels", "a,b", "--out", str(tmp_path / "o")]
    for extra, message in (
        (["--rescore-every", "2"], "--rescore-every needs --web"),
        (["--port", "9000"], "--port needs --web"),
        (["--web", "--port", "70000"], "--port must be between 0 and 65535"),
        (["--web", "--threshold", "1.5"], "--threshold must be between 0 and 1"),
        (["--web", "--order", "best"], "invalid choice: 'best'"),
    ):
        with pytest.raises(SystemExit):
            main(common + extra)
        assert message in capsys.readouterr().err


def test_a_port_in_use_is_refused_before_the_model_is_loaded(tmp_path):
    """It was found only after the whole pool was scored (minutes for a large one)."""
    texts = tmp_path / "texts.jsonl"
    texts.write_text(json.dumps({"text": "one"}) + "\n")
    out = tmp_path / "fb.jsonl"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        arguments = ["--web", "--port", str(port), "--input", str(texts), "--labels", "a,b", "--out", str(out)]
        with pytest.raises(OSError, match=f"--port {port}: cannot listen on 127.0.0.1:{port} .*in use"):
            main(["--model", str(tmp_path / "no-model"), *arguments])
    assert not out.exists()


def test_command_serves_the_page_and_stops_cleanly_on_ctrl_c(tmp_path, model_dir):
    texts = tmp_path / "texts.jsonl"
    texts.write_text("".join(json.dumps({"text": text}) + "\n" for text in TEXTS[:3]))
    out = tmp_path / "fb.jsonl"
    command = [sys.executable, "-m", "training.feedback", "--web", "--port", "0", "--model", str(model_dir)]
    command += ["--input", str(texts), "--labels", ",".join(LABELS), "--out", str(out)]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    process = subprocess.Popen(  # SIGINT as in a terminal, also when pytest runs as a background job (SIG_IGN)
        command,
        cwd=REPO,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        seen = ""
        while not (url := re.search(r"feedback page: (http://127\.0\.0\.1:\d+/)", seen)):
            line = process.stderr.readline()
            assert line, seen  # the command ended before serving
            seen += line
        with urllib.request.urlopen(url.group(1), timeout=30) as response:
            token = re.search(r'name="feedback-token" content="([^"]+)"', response.read().decode()).group(1)
        call = urllib.request.Request(
            url.group(1) + "api/answer",
            data=json.dumps({"id": 1, "accepted": ["sports"]}).encode(),
            headers={"Content-Type": "application/json", "X-Feedback-Token": token},
        )
        with urllib.request.urlopen(call, timeout=30) as response:
            assert response.status == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        rest = process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
    assert "Traceback" not in rest and "stopped; 1 answers saved" in rest
    assert web_answers(out) == [{"text": TEXTS[1], "candidate_labels": LABELS, "accepted": ["sports"], "rejected": []}]


def test_the_terminal_loop_can_ask_least_certain_first(tmp_path, make_embedder, monkeypatch, capsys):
    model_dir = tmp_path / "embedder"  # unsaturated scores: the order is not decided by rounding noise
    make_embedder().save_pretrained(model_dir)
    texts = tmp_path / "texts.jsonl"
    texts.write_text("".join(json.dumps({"text": text}) + "\n" for text in TEXTS[2:8]))
    order = asking_order(ModelScorer(str(model_dir), LABELS)(TEXTS[2:8]), "uncertain")
    assert order[0] != 0  # else this test could not tell the orders apart
    monkeypatch.setattr(sys, "stdin", io.StringIO("q\n"))
    arguments = ["--model", str(model_dir), "--input", str(texts), "--labels", ",".join(LABELS)]
    main(arguments + ["--out", str(tmp_path / "o"), "--order", "uncertain"])
    assert f"[1/6] {TEXTS[2:8][order[0]]}" in capsys.readouterr().out
