"""Command line: accept or reject a model's predicted labels, writing PPO feedback.

    python -m training.feedback --model M --input texts.jsonl --labels "a,b,c" --out fb.jsonl [--top 3]

For each text of `texts.jsonl` (`{"text": ...}` lines) it shows the top predicted labels with
their scores and asks, one key per label: a(ccept), r(eject), u(nsure), s(kip the text), q(uit);
then m (add a missed label) or n (next text). Every answer is appended to `fb.jsonl` (the format
of `training.feedback.data`) and fsync'ed at once; on restart, texts already in it are not shown
again. Without a terminal (piped input) the commands are read one per line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from gliclass.data import DataError, checked_text
from gliclass.jsonl import read_jsonl
from gliclass.prompt import check_labels

from .session import FeedbackSession, Predict


def read_texts(path: Path) -> list[str]:
    """The `text` of every line of a JSONL file."""
    texts = []
    for where, record in read_jsonl(path, error=DataError):
        if not isinstance(record, dict) or "text" not in record:
            raise DataError(f"{where}: the record has no text.")
        texts.append(checked_text(record["text"], where))
    return texts


def read_key(prompt: str) -> str:
    """One key press from a terminal (no Enter needed)."""
    import termios
    import tty

    descriptor = sys.stdin.fileno()
    saved = termios.tcgetattr(descriptor)
    try:
        tty.setcbreak(descriptor, termios.TCSANOW)  # keeps keys typed ahead (TCSAFLUSH would drop them)
        sys.stdout.write(prompt)
        sys.stdout.flush()
        key = sys.stdin.read(1)
    finally:
        termios.tcsetattr(descriptor, termios.TCSADRAIN, saved)
    if not key:
        raise EOFError
    print(key)
    return key


def pipeline_predictor(model_path: str, labels: Sequence[str], top: int, device: str | None = None) -> Predict:
    """`predict(text)` from a GLiClass model: the `top` labels by sigmoid score."""
    import gliclass

    clf = gliclass.pipeline(model=model_path, device=device or "cpu")

    def predict(text: str) -> list[tuple[str, float]]:
        result = clf(text, candidate_labels=list(labels))
        return list(zip(result["labels"], result["scores"]))[:top]

    return predict


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m training.feedback",
        description="Accept or reject a model's predicted labels; writes PPO feedback.",
    )
    parser.add_argument("--model", required=True, help="GLiClass model folder or hub id")
    parser.add_argument("--input", type=Path, required=True, help="JSONL file of {'text': ...}")
    parser.add_argument("--labels", required=True, help="comma-separated candidate labels")
    parser.add_argument("--out", type=Path, required=True, help="feedback JSONL (appended; resumed)")
    parser.add_argument("--top", type=int, default=3, help="predicted labels shown per text")
    parser.add_argument("--device", help="torch device for the model (default cpu)")
    args = parser.parse_args(argv)
    if args.top < 1:
        parser.error("--top must be at least 1.")
    labels = check_labels(args.labels)
    texts = read_texts(args.input)
    interactive = sys.stdin.isatty()
    session = FeedbackSession(
        args.out,
        labels,
        pipeline_predictor(args.model, labels, args.top, args.device),
        read_key if interactive else input,
        input,
    )
    try:
        answers = session.run(texts)
    except KeyboardInterrupt:
        print(f"\ninterrupted; every answer given is saved in {args.out}.", file=sys.stderr)
        raise SystemExit(130)
    print(f"{answers} answers saved in {args.out}.", file=sys.stderr)
