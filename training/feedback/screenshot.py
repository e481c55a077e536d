"""A screenshot of the feedback page in headless Chromium (for the README), and the browser it uses.

    python -m training.feedback.screenshot --model gliclass/default_model --data ../shared/data/eval/emotion \\
        --out training/results/feedback_page.png

Needs Chromium with its driver (Debian: `apt-get install chromium chromium-driver`) and selenium.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
from pathlib import Path

from gliclass.cli import run_command
from gliclass.data import load_set

from .scoring import ModelScorer
from .text_queue import FeedbackQueue
from .web import FeedbackServer

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def chromium_paths() -> tuple[str, str] | None:
    """(browser, driver) executables on PATH, or None when either is missing."""
    browser = next((found for name in BROWSERS if (found := shutil.which(name))), None)
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def headless_chromium(width: int = 1100, height: int = 800):
    """A selenium driver for headless Chromium (OSError when Chromium or its driver is missing)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    paths = chromium_paths()
    if paths is None:
        raise OSError("Chromium and chromedriver are needed (Debian: apt-get install chromium chromium-driver).")
    options = Options()
    options.binary_location = paths[0]
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={width},{height}")
    return webdriver.Chrome(options=options, service=Service(executable_path=paths[1]))


def take_screenshot(model: str, data: str, out: Path, texts: int, top: int) -> None:
    """Serve the page over the first `texts` texts of a data set, judge one label, save a PNG
    (OSError without selenium, a dev extra)."""
    try:
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] != "selenium":
            raise
        raise OSError("the screenshot needs selenium (pip install selenium) and Chromium with its driver.") from None

    labelled = load_set(data)
    pool = labelled.texts[:texts]
    with tempfile.TemporaryDirectory() as scratch:
        queue = FeedbackQueue(pool, labelled.labels, Path(scratch) / "fb.jsonl", ModelScorer(model, labelled.labels))
        server = FeedbackServer(queue, "127.0.0.1", 0, top)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        driver = headless_chromium()
        try:
            driver.get(server.url)
            WebDriverWait(driver, 30).until(lambda page: page.find_element(By.ID, "text").text)
            ActionChains(driver).send_keys("a").perform()  # accept the first label; the focus moves on
            WebDriverWait(driver, 10).until(lambda page: page.find_elements(By.CSS_SELECTOR, "#labels li.accept"))
            out.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(out))
        finally:
            driver.quit()
            server.shutdown()
            server.server_close()
            queue.close()
    print(json.dumps({"screenshot": str(out), "texts": len(pool), "labels": labelled.labels}), file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="GLiClass model folder or hub id")
    parser.add_argument("--data", required=True, help="a data set folder (JSONL + meta.json) for texts and labels")
    parser.add_argument("--out", type=Path, required=True, help="PNG file to write")
    parser.add_argument("--texts", type=int, default=20, help="texts in the pool (default 20)")
    parser.add_argument("--top", type=int, default=3, help="labels to judge per text (default 3)")
    args = parser.parse_args(argv)
    take_screenshot(args.model, args.data, args.out, args.texts, args.top)


if __name__ == "__main__":
    sys.exit(run_command(f"python -m {__spec__.name}", main))
