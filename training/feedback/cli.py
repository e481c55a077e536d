"""Command line: accept or reject a model's predicted labels, writing PPO feedback.

    python -m training.feedback --model M --input texts.jsonl --labels "a,b,c" --out fb.jsonl [--top 3]

(`--labels-file FILE` instead of `--labels`: one label per line, for labels that hold commas.)

For each text of `texts.jsonl` (`{"text": ...}` lines) it shows the top predicted labels with
their scores and asks, one key per label: a(ccept), r(eject), u(nsure), s(kip the text), q(uit);
then m (add a missed label) or n (next text). Every answer is appended to `fb.jsonl` (the format
of `training.feedback.data`) and fsync'ed at once; on restart, texts already in it are not shown
again. Without a terminal (piped input) the commands are read one per line.

    python -m training.feedback ... --web [--port 8765] [--host 127.0.0.1] [--order uncertain] [--rescore-every N]

serves the same loop as a local web page (`web.py`), least certain texts first by default
(`ordering.py`); `--order` also applies to the terminal loop (default there: file order).
"""

from __future__ import annotations

import argparse
import codecs
import os
import select
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from gliclass.data import DataError, checked_text
from gliclass.jsonl import read_jsonl
from gliclass.label_file import labels_from_file
from gliclass.prompt import check_labels

from ..recipe import config_data_dir, is_evaluation_set
from .data import end_at_line_boundary, iter_feedback_lines, sole_writer
from .ordering import ORDERS, asking_order
from .scoring import ModelScorer
from .session import FeedbackSession, Predict
from .text_queue import FeedbackQueue
from .web import FeedbackServer, check_port, serve

ESCAPE_WAIT = 0.05  # seconds for the rest of a key's escape sequence to arrive


def read_texts(path: Path) -> list[str]:
    """The `text` of every line of a JSONL file."""
    texts = []
    for where, record in read_jsonl(path, error=DataError):
        if not isinstance(record, dict) or "text" not in record:
            raise DataError(f"{where}: the record has no text.")
        texts.append(checked_text(record["text"], where))
    return texts


def read_key(prompt: str) -> str:
    """One key press from a terminal (no Enter needed); a key that sends an escape sequence (an arrow,
    a function key) comes back whole, so that no part of it is taken for a command."""
    import termios
    import tty

    descriptor = sys.stdin.fileno()
    saved = termios.tcgetattr(descriptor)
    try:
        tty.setcbreak(descriptor, termios.TCSANOW)  # keeps keys typed ahead (TCSAFLUSH would drop them)
        sys.stdout.write(prompt)
        sys.stdout.flush()
        key = key_press(descriptor)
    finally:
        termios.tcsetattr(descriptor, termios.TCSADRAIN, saved)
    if not key or key == "\x04":  # end of input, or Ctrl-D (a key in cbreak mode): quit
        raise EOFError
    print(key if key.isprintable() else "")
    return key


def key_press(descriptor: int) -> str:
    """The characters of one key press on a terminal in cbreak mode ("" at the end of input): one
    character, or a whole escape sequence (Up is ESC [ A, F4 ESC O S: read apart, their last letters
    would accept or skip), read unbuffered so that keys typed ahead stay for the next call."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    key = ""
    while not key:
        byte = os.read(descriptor, 1)
        if not byte:
            return ""
        key = decoder.decode(byte)
    while key[0] == "\x1b" and not escape_ended(key) and select.select([descriptor], [], [], ESCAPE_WAIT)[0]:
        byte = os.read(descriptor, 1)
        if not byte:
            break
        key += byte.decode("latin-1")
    return key


def escape_ended(key: str) -> bool:
    """Whether `key` (starting with ESC) is a whole sequence: ESC [ ... final byte (CSI), ESC O x (SS3),
    or ESC and one other character (Alt+key)."""
    if len(key) < 2:
        return False
    if key[1] == "[":
        return len(key) > 2 and "\x40" <= key[-1] <= "\x7e"
    return len(key) > 2 or key[1] != "O"


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
        prog=f"python -m {__package__}",
        description="Accept or reject a model's predicted labels; writes PPO feedback.",
    )
    parser.add_argument("--model", required=True, help="GLiClass model folder or hub id")
    parser.add_argument("--input", type=Path, required=True, help="JSONL file of {'text': ...}")
    labels = parser.add_mutually_exclusive_group(required=True)
    labels.add_argument("--labels", help="comma-separated candidate labels")
    labels.add_argument("--labels-file", type=Path, help="candidate labels, one per line (labels may hold commas)")
    parser.add_argument("--out", type=Path, required=True, help="feedback JSONL (appended; resumed)")
    parser.add_argument("--top", type=int, default=3, help="predicted labels shown per text")
    parser.add_argument("--device", help="torch device for the model (default cpu)")
    parser.add_argument("--web", action="store_true", help="serve a local feedback page instead of the terminal loop")
    parser.add_argument("--host", default="127.0.0.1", help="--web: address to listen on (default 127.0.0.1 only)")
    parser.add_argument("--port", type=int, default=8765, help="--web: port (default 8765; 0 picks a free one)")
    parser.add_argument(
        "--order",
        choices=ORDERS,
        help="which text next: least certain first, random, or file order (default: "
        "uncertain with --web, file in the terminal)",
    )
    parser.add_argument("--threshold", type=float, help="uncertain order: ask first about scores nearest this")
    parser.add_argument("--seed", type=int, default=0, help="random order: its seed")
    parser.add_argument("--rescore-every", type=int, default=0, help="--web: re-score the pool after every N answers")
    args = parser.parse_args(argv)
    if args.top < 1:
        parser.error("--top must be at least 1.")
    if args.rescore_every < 0:
        parser.error("--rescore-every must be 0 (never) or a positive number of answers.")
    if args.threshold is not None and not 0 < args.threshold < 1:
        parser.error("--threshold must be between 0 and 1.")
    if not args.web:
        for name in ("host", "port", "rescore_every"):
            if getattr(args, name) != parser.get_default(name):
                parser.error(f"--{name.replace('_', '-')} needs --web.")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535.")
    if args.labels_file is not None:
        labels = labels_from_file(args.labels_file)
    else:
        try:
            labels = check_labels(args.labels)
        except ValueError as error:
            raise ValueError(f"--labels: {error}") from None
    if is_evaluation_set(args.input, config_data_dir({})):
        raise ValueError(
            f"--input {args.input} is an evaluation set; feedback on it is training data and would spoil it."
        )
    texts = read_texts(args.input)
    if not texts:
        raise ValueError(f"--input {args.input} holds no texts.")
    check_output_path(args.out, args.input)
    with sole_writer(args.out):
        check_answers(args.out, labels)
        if args.web:
            run_web(args, labels, texts)
        else:
            run_terminal(args, labels, texts)


def check_output_path(out: Path, source: Path) -> None:
    """`--out` is a file of its own (not the input), in a folder that exists."""
    if out.exists() and out.resolve() == source.resolve():
        raise ValueError(f"--out {out} is the --input file; answers go to a file of their own.")
    if out.is_dir():
        raise ValueError(f"--out {out} is a folder; give a JSONL file name.")
    if not out.parent.is_dir():
        raise ValueError(f"--out {out}: the folder {out.parent} does not exist.")


def check_answers(out: Path, labels: list[str]) -> None:
    """The answers already in `out` were given for these labels (a restart with other labels would
    mix label sets and skip texts answered for the old ones). A half-written last record set aside
    is said in one `warning:` line."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        end_at_line_boundary(out)
    for warning in caught:
        print(f"python -m {__package__}: warning: {warning.message}", file=sys.stderr)
    for where, record in iter_feedback_lines(out):
        if sorted(record.candidate_labels) != sorted(labels):
            raise ValueError(
                f"{where}: answered for the labels {record.candidate_labels}, not --labels {labels}; "
                "use the same labels to go on, or another --out."
            )


def run_terminal(args: argparse.Namespace, labels: list[str], texts: list[str]) -> None:
    """The terminal loop over `texts`, in `--order` (file order by default)."""
    if args.order not in (None, "file"):
        scores = ModelScorer(args.model, labels, args.device)(texts)
        texts = [texts[index] for index in asking_order(scores, args.order, args.threshold, args.seed)]
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


def run_web(args: argparse.Namespace, labels: list[str], texts: list[str]) -> None:
    """The feedback page until Ctrl-C."""
    try:
        check_port(args.host, args.port)  # before the pool is scored: minutes for a large one
    except OSError as error:
        raise port_error(args, error) from None
    queue = FeedbackQueue(
        texts,
        labels,
        args.out,
        ModelScorer(args.model, labels, args.device),
        order=args.order or "uncertain",
        threshold=args.threshold,
        seed=args.seed,
        rescore_every=args.rescore_every,
    )
    progress = queue.progress()
    if progress["answered"]:
        print(
            f"resuming: {progress['answered']} of {progress['total']} texts are already in {args.out}.", file=sys.stderr
        )
    try:
        server = FeedbackServer(queue, args.host, args.port, args.top)
    except OSError as error:  # taken since the check
        queue.close()
        raise port_error(args, error) from None
    serve(server)
    print(f"stopped; {queue.answers} answers saved in {args.out} this run.", file=sys.stderr)


def port_error(args: argparse.Namespace, error: OSError) -> OSError:
    """The one-line error for a `--host`/`--port` the page cannot listen on."""
    return OSError(
        f"--port {args.port}: cannot listen on {args.host}:{args.port} ({error.strerror or error}); "
        "pick another port (0: any free one)."
    )
