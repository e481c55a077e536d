"""The feedback page end to end in headless Chromium: answers typed on the keyboard reach the JSONL,
a reload resumes, and HTML-laden texts are shown as text (no script runs, no element is made)."""

import threading
from contextlib import contextmanager

import pytest
from feedback_files import web_answers

from training.feedback.data import read_feedback
from training.feedback.scoring import ModelScorer
from training.feedback.screenshot import chromium_paths, headless_chromium
from training.feedback.text_queue import FeedbackQueue
from training.feedback.web import FeedbackServer

pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')")
if chromium_paths() is None:
    pytest.skip(
        "Chromium or chromedriver is not on PATH (Debian: apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )

from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

LABELS = ["sports", "business", "politics", "science"]
HOSTILE = ["<script>alert('x')</script> the match was won", '<img src=x onerror="alert(1)"> stocks fell <b>hard</b>']
TEXTS = HOSTILE + ["parliament passed the budget", "a new species was found", "the bank raised rates"]


@contextmanager
def running_page(queue):
    server = FeedbackServer(queue, "127.0.0.1", 0, top=2)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    driver = headless_chromium()
    try:
        yield server, driver
    finally:
        driver.quit()
        server.shutdown()
        server.server_close()
        queue.close()


def test_keyboard_answers_reload_and_escaping_in_chromium(make_model, tmp_path):
    model_dir = tmp_path / "model"
    make_model().save_pretrained(model_dir)
    out = tmp_path / "fb.jsonl"
    queue = FeedbackQueue(TEXTS, LABELS, out, ModelScorer(str(model_dir), LABELS), order="file")
    with running_page(queue) as (server, driver):
        wait = WebDriverWait(driver, 20)

        def shown_text():
            return driver.find_element(By.ID, "text").get_attribute("textContent")

        def shown_labels():
            return [row.get_attribute("data-label") for row in driver.find_elements(By.CSS_SELECTOR, "#labels li")]

        def press(*keys):
            ActionChains(driver).send_keys(*keys).perform()

        def wait_for_progress(answered):
            wait.until(lambda _: driver.find_element(By.ID, "progress").text == f"{answered} / 5 answered")

        driver.get(server.url)
        wait.until(lambda _: shown_text() == HOSTILE[0])
        assert not driver.find_elements(By.CSS_SELECTOR, "#card script, #card img, #card b")  # shown as text
        first = shown_labels()
        assert len(first) == 2
        press("a", "r", Keys.ENTER)  # accept the first label, reject the second, save
        wait_for_progress(1)
        assert web_answers(out) == [
            {"text": HOSTILE[0], "candidate_labels": LABELS, "accepted": [first[0]], "rejected": [first[1]]}
        ]

        wait.until(lambda _: shown_text() == HOSTILE[1])
        assert not driver.find_elements(By.CSS_SELECTOR, "#card img, #card b")
        assert driver.find_element(By.ID, "text").text == HOSTILE[1]  # rendered, the markup is visible text
        missed = driver.find_element(By.ID, "missed").get_attribute("value")
        assert missed not in shown_labels()
        press("m", Keys.ENTER)  # add the first missed label (accepted) ...
        wait.until(lambda _: missed in shown_labels())
        press(Keys.ENTER)  # ... and save: the two shown labels stay unsure
        wait_for_progress(2)
        assert web_answers(out)[1]["accepted"] == [missed] and web_answers(out)[1]["rejected"] == []

        wait.until(lambda _: shown_text() == TEXTS[2])
        press("j", "r")  # move to the second label and reject it, but reload before saving
        driver.refresh()
        wait.until(lambda _: shown_text() == TEXTS[2])  # the same text again, nothing saved
        wait_for_progress(2)
        assert len(web_answers(out)) == 2
        press("s")  # skip: saved as seen, nothing judged
        wait_for_progress(3)
        wait.until(lambda _: shown_text() == TEXTS[3])
        driver.find_element(By.CSS_SELECTOR, "#labels li:nth-child(2) button:nth-child(1)").click()  # clicks work too
        driver.find_element(By.ID, "save").click()
        wait_for_progress(4)
    records = read_feedback(out)
    assert [record.text for record in records] == TEXTS[:4]
    assert records[2].accepted == records[2].rejected == []
    assert len(records[3].accepted) == 1 and records[3].rejected == []
