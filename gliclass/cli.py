"""Command line: `gliclass classify [--model PATH] --labels "a,b,c" TEXT...` or `--input FILE` (JSONL,
JSON, CSV, TSV, text, a saved or hub dataset; `--labels-file FILE` instead of `--labels`: one label per line).

Every input is checked before anything is written; a mistake in the input is one line
`gliclass: error: FILE:LINE: ...` on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import decimal
import hashlib
import json
import multiprocessing
import os
import re
import signal
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from .checkpoint import check_model_location, hub_commit
from .input_files import read_input_file
from .jsonl import STDIN
from .label_file import label_lines, labels_from_file
from .options import check_batch_size, check_device, check_threshold, labels_per_text, prompts_per_text
from .pipeline import DEFAULT_MODEL_DIR, TruncationWarning
from .prompt import LabelTooLongError, check_text
from .resumable_output import ResumableOutput

STDOUT = "-"  # as --output: the lines go to standard output, as without --output
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".zip")
# --output names that promise another format or compression (the lines are written as plain text)
NOT_JSON_LINES = (".csv", ".tsv", ".parquet", ".arrow", *COMPRESSED_SUFFIXES)
USAGE_ERROR = 2
INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C
BROKEN_PIPE = 141  # 128 + SIGPIPE
CHUNK_TEXTS = 256  # texts classified and written at a time from a file
PREDICTION_FIELDS = ("labels", "scores")
DATA_FILE_SUFFIXES = (  # a missing file, not a hub id
    *(".jsonl", ".json", ".txt", ".csv", ".tsv", ".parquet", ".arrow"),
    *COMPRESSED_SUFFIXES,
)


class InputError(ValueError):
    """A user mistake in the command's input: reported as one `error:` line."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gliclass", description="Zero-shot text classification with GLiClass.")
    commands = parser.add_subparsers(dest="command", required=True)
    classify = commands.add_parser(
        "classify", help="classify texts given on the command line, in a file (JSONL, JSON, CSV, TSV, text) or dataset"
    )
    classify.add_argument(
        "--model", default=None, help="GLiClass model folder or hub id (default: the model shipped in the package)"
    )
    labels = classify.add_mutually_exclusive_group(required=True)
    labels.add_argument("--labels", help='candidate labels, comma-separated: "sports, politics"')
    labels.add_argument(
        "--labels-file", help="candidate labels, one per line (labels may hold commas; any number of labels)"
    )
    classify.add_argument("--threshold", type=float, default=None, help="keep labels scoring at least this")
    classify.add_argument("--top-k", type=int, default=None, help="keep only the k best labels of each text")
    classify.add_argument("--single-label", action="store_true", help="softmax over the labels instead of sigmoid")
    classify.add_argument("--prompt", default=None, help="task description put into the input")
    classify.add_argument(
        "--input",
        default=None,
        help="a .jsonl/.json file (JSON lines, or one array of objects), - (JSON lines on standard input), a .csv/.tsv "
        "file with a header row, a .txt file (one text a line), a save_to_disk dataset folder or a hub dataset "
        "id; other fields/columns are kept in the output",
    )
    classify.add_argument(
        "--output",
        default=None,
        help="write the JSONL results here (fsync'ed chunk by chunk; - for standard output); run again after a "
        "kill to finish it",
    )
    classify.add_argument(
        "--text-column", default="text", help="the field (or CSV/TSV/dataset column) holding the text"
    )
    classify.add_argument("--split", default=None, help="the split of a saved or hub dataset given as --input")
    classify.add_argument("--chunk-size", type=int, default=CHUNK_TEXTS, help="texts classified and written at a time")
    classify.add_argument(
        "--num-processes", type=int, default=1, help="worker processes sharing the CPU threads (results stay in order)"
    )
    classify.add_argument("--batch-size", type=int, default=None, help="encoder rows per forward pass")
    classify.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: CUDA when present)")
    classify.add_argument("--fast", action="store_true", help="approximate speed mode (bfloat16 autocast)")
    classify.add_argument("--windows", action="store_true", help="score long texts in overlapping windows")
    classify.add_argument("texts", nargs="*", help="texts to classify")
    args = parser.parse_args(argv)
    if bool(args.texts) == (args.input is not None):
        parser.error("give either TEXT arguments or --input FILE, not both or neither")
    if args.input is None and (args.output is not None or args.split is not None or args.text_column != "text"):
        parser.error("--output, --split and --text-column go with --input")
    return run_command("gliclass", lambda: _classify(args), (ValueError, OSError, TypeError))


def run_command(
    prog: str, command: Callable[[], int | None], errors: tuple[type[BaseException], ...] = (ValueError, OSError)
) -> int:
    """Run a command-line program's work: a user mistake (one of `errors`) becomes one line
    `PROG: error: ...` on stderr and exit code 2 instead of a traceback."""
    _quiet_hub_retries()
    try:
        return command() or 0
    except BrokenPipeError:  # the reader stopped early (`| head`): end quietly, as other tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return BROKEN_PIPE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return INTERRUPTED
    except errors as error:
        print(f"{prog}: error: {_one_line(error)}", file=sys.stderr)
        return USAGE_ERROR


def _classify(args: argparse.Namespace) -> int:
    """`_classify_records`, with a label too long for the model named by its `--labels-file` line."""
    try:
        return _classify_records(args)
    except LabelTooLongError as error:
        line = label_lines(Path(args.labels_file)).get(error.label) if args.labels_file is not None else None
        if line is None:
            raise
        raise InputError(f"--labels-file {args.labels_file}:{line}: {error}") from None


def _classify_records(args: argparse.Namespace) -> int:
    options = _checked_options(args)
    if args.input is not None:
        records = _read_records(args.input, args.text_column, args.split)
    else:
        records = _argument_records(args.texts)
    fields = _prediction_fields(records)
    output = None
    if args.output not in (None, STDOUT):  # checked before the model
        if (
            args.input != STDIN
            and Path(args.input).exists()
            and Path(args.output).resolve() == Path(args.input).resolve()
        ):
            raise InputError(f"--output {args.output} is the --input file; choose another file.")
        if Path(args.output).suffix.lower() in NOT_JSON_LINES:
            raise InputError(
                f"--output {args.output}: the results are JSON lines, not {Path(args.output).suffix}; "
                "name the file .jsonl."
            )
        output = ResumableOutput(args.output, records, args.text_column, fields, _run_settings(args, options))
    start = output.done if output is not None else 0
    if start:
        print(f"gliclass: {args.output} already holds {start} of {len(records)} lines; going on.", file=sys.stderr)
    show_progress = args.input is not None
    started = time.perf_counter()
    with (
        _classifier(args, options) as classify,
        tqdm(
            total=len(records),
            initial=start,
            desc="classifying",
            unit="text",
            file=sys.stderr,
            disable=not show_progress,
        ) as bar,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        chunks = [records[begin : begin + args.chunk_size] for begin in range(start, len(records), args.chunk_size)]
        texts = ([record[args.text_column] for record in chunk] for chunk in chunks)
        for chunk, (results, messages) in zip(chunks, classify(texts)):
            for message in messages:  # from worker processes
                warnings.warn(message, stacklevel=1)
            lines = [
                json.dumps(
                    _output_line(record, result, fields, args.input is None), ensure_ascii=False, default=json_value
                )
                for record, result in zip(chunk, results)
            ]
            if output is not None:
                output.write(lines)
            else:
                print("\n".join(lines), flush=True)
            bar.update(len(chunk))
    if output is not None:
        output.close()
    cut = [warning.message for warning in caught if isinstance(warning.message, TruncationWarning)]
    others = [warning.message for warning in caught if not isinstance(warning.message, TruncationWarning)]
    for message in [*dict.fromkeys(map(str, others)), *([TruncationWarning.merged(cut)] if cut else [])]:
        print(f"gliclass: warning: {_one_line(message)}", file=sys.stderr)  # once each, after the results
    if show_progress:
        seconds = time.perf_counter() - started
        count = len(records) - start
        print(
            f"gliclass: classified {count} texts in {seconds:.1f} s ({count / max(seconds, 1e-9):.1f} texts/s)",
            file=sys.stderr,
        )
    return 0


@contextmanager
def _classifier(
    args: argparse.Namespace, options: dict[str, Any]
) -> Iterator[Callable[[Iterator[list[str]]], Iterator[tuple[list[dict[str, Any]], list[Warning]]]]]:
    """A function from chunks of texts to `(results, warnings)` of each, in order: in this
    process (the model is loaded now, so a bad model fails before anything is shown or written), or
    spread over `--num-processes` worker processes that split the CPU threads between them (each
    loads the model with its first chunk, so a bad model is raised here instead of killing workers)."""
    model_options = dict(model=args.model, device=args.device, fast=args.fast)
    if args.num_processes == 1:
        _start_worker(model_options, options, torch_threads=None)
        _worker_classifier()
        yield lambda chunks: map(_classify_in_worker, chunks)
        return
    if args.model is not None:
        check_model_location(args.model)
    threads = max(1, torch.get_num_threads() // args.num_processes)
    context = multiprocessing.get_context("spawn")
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited: no worker takes Ctrl-C while it starts
    try:
        pool = context.Pool(args.num_processes, _start_pool_worker, (model_options, options, threads))
    finally:
        signal.signal(signal.SIGINT, handler)
    with pool:
        yield lambda chunks: pool.imap(_classify_in_worker, chunks)


_WORKER: dict[str, Any] = {}  # the model options, call options and (once loaded) pipeline of this process


def _quiet_hub_retries() -> None:
    """A hub model or dataset id offline: one `error:` line at the end, not a line per retry (for
    every command run through `run_command`, and in worker processes)."""
    from huggingface_hub.utils import logging as hub_logging

    hub_logging.set_verbosity_error()


def _start_worker(model_options: dict[str, Any], options: dict[str, Any], torch_threads: int | None) -> None:
    if torch_threads is not None:
        torch.set_num_threads(torch_threads)
    _WORKER.clear()
    _WORKER.update(model_options=model_options, options=options)


def _start_pool_worker(model_options: dict[str, Any], options: dict[str, Any], torch_threads: int) -> None:
    """`_start_worker` in a worker process, which leaves Ctrl-C to the main process (that one ends
    the pool and says `interrupted`) instead of printing a traceback of its own."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _start_worker(model_options, options, torch_threads)


def _worker_classifier() -> Any:
    """This process's pipeline, loaded on first use."""
    if "classifier" not in _WORKER:
        from transformers.utils import logging

        from .pipeline import pipeline

        logging.disable_progress_bar()
        _quiet_hub_retries()
        _WORKER["classifier"] = pipeline(**_WORKER["model_options"])
    return _WORKER["classifier"]


def _classify_in_worker(texts: list[str]) -> tuple[list[dict[str, Any]], list[Warning]]:
    classifier = _worker_classifier()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = classifier(texts, **_WORKER["options"])
    return results, [warning.message for warning in caught]


def _run_settings(args: argparse.Namespace, options: dict[str, Any]) -> dict[str, Any]:
    """What decides an output line (the call options but the batch size, the model, fast mode, the
    text column): recorded with a new `--output`, compared when resuming it."""
    model = args.model
    if model is not None and Path(model).expanduser().exists():
        model = str(Path(model).expanduser().resolve())
    settings = {name: value for name, value in options.items() if name != "batch_size"}
    settings["candidate_labels"] = labels_per_text(options["candidate_labels"], None)[0][0]  # "a, b" and "a,b" alike
    folder = DEFAULT_MODEL_DIR if model is None else Path(model)
    files = _model_files_digest(folder) if folder.is_dir() else hub_commit(model)
    return {
        **settings,
        "model": model or "default",
        "model_files": files,
        "fast": args.fast,
        "text_column": args.text_column,
    }


def _model_files_digest(folder: Path) -> str:
    """A SHA-256 over the model folder's config and weight files: a model retrained, recalibrated or
    upgraded in the same place makes another digest (a resume across it is refused)."""
    digest = hashlib.sha256()
    for path in sorted([*folder.glob("*.json"), *folder.glob("*.safetensors")]):
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def _checked_options(args: argparse.Namespace) -> dict[str, Any]:
    """The pipeline options, checked before any model is loaded."""
    labels = args.labels if args.labels_file is None else labels_from_file(Path(args.labels_file))
    checks = [
        ("--labels" if args.labels_file is None else f"--labels-file {args.labels_file}", labels_per_text, labels),
        ("--prompt", prompts_per_text, args.prompt),
        ("--device", check_device, args.device),
        ("--threshold", check_threshold, args.threshold),
        ("--batch-size", check_batch_size, args.batch_size),
        ("--top-k", lambda value: check_batch_size(value, "top_k"), args.top_k),
        ("--chunk-size", lambda value: check_batch_size(value, "the chunk size"), args.chunk_size),
        ("--num-processes", lambda value: check_batch_size(value, "the number of processes"), args.num_processes),
    ]
    for option, check, value in checks:
        if value is None:
            continue
        try:
            check(value, None) if check in (labels_per_text, prompts_per_text) else check(value)
        except (TypeError, ValueError) as error:
            raise InputError(f"{option}: {error}") from None
    return dict(
        candidate_labels=labels,
        multi_label=not args.single_label,
        threshold=args.threshold,
        top_k=args.top_k,
        prompt=args.prompt,
        windows=args.windows,
        batch_size=args.batch_size,
    )


def _argument_records(texts: Sequence[str]) -> list[dict[str, Any]]:
    for number, text in enumerate(texts, 1):
        try:
            check_text(text, "the text")
        except ValueError as error:
            raise InputError(f"TEXT argument {number}: {error}") from None
    return [{"text": text} for text in texts]


def _read_records(path: str, text_column: str = "text", split: str | None = None) -> list[dict[str, Any]]:
    """Every record of the input, each checked (`FILE:LINE` or `FOLDER[ROW]` in errors): a JSONL, JSON,
    CSV, TSV or text file (`gliclass.input_files`), JSON lines on standard input, a `datasets` dataset
    saved with `save_to_disk` (a folder) or a hub dataset id."""
    source = _dataset_rows(path, split) if path != STDIN and (Path(path).is_dir() or _is_hub_id(path)) else None
    if source is None and split is not None:
        raise InputError(f"--split {split}: --input {path} is a file; --split goes with a dataset folder or hub id.")
    located = source or read_input_file(path, text_column, InputError)
    records = [checked_record(where, record, text_column) for where, record in located]
    if not records:
        raise InputError(f"{'standard input' if path == STDIN else path} holds no lines to classify.")
    return records


def checked_record(where: str, record: Any, text_column: str) -> dict[str, Any]:
    """An input record: a JSON object whose `text_column` is a text to classify and whose every
    field goes into a UTF-8 output line (else `InputError` at `where`, before anything is written)."""
    if not isinstance(record, dict):
        raise InputError(f"{where}: a line must be a JSON object with a '{text_column}' field.")
    if text_column not in record:
        raise InputError(f"{where}: the line has no '{text_column}' field.")
    try:
        check_text(record[text_column], "the text")
    except (TypeError, ValueError) as error:
        raise InputError(f"{where}: {error}") from None
    for column, value in record.items():
        try:
            json.dumps({column: value}, ensure_ascii=False, default=json_value).encode("utf-8")
        except UnicodeEncodeError as error:
            lone = error.object[error.start]
            raise InputError(f"{where}: column {column!r} holds a lone surrogate {lone!r}; not valid text.") from None
        except (TypeError, ValueError) as error:
            raise InputError(f"{where}: column {column!r}: {error}") from None
    return record


def _is_hub_id(path: str) -> bool:
    """Whether `path`, which is no local file or folder, reads as a hub dataset id (`name`, `owner/name`)."""
    return (
        not Path(path).exists()
        and re.fullmatch(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?", path) is not None
        and not path.lower().endswith(DATA_FILE_SUFFIXES)
    )


def _dataset_rows(folder: str, split: str | None) -> list[tuple[str, dict[str, Any]]]:
    """`(FOLDER[ROW], row)` of a dataset saved with `save_to_disk`, or of a hub dataset when `folder`
    is no local path (`load_dataset(id, split=split)`); one split of a `DatasetDict`."""
    import datasets

    if not Path(folder).exists():
        try:
            dataset = datasets.load_dataset(folder, split=split)
        except Exception as error:  # offline, unknown id, no access, unknown split: many types, one line each
            raise InputError(
                f"--input {folder} is no local path, and loading it as a hub dataset failed: {_one_line(error)}"
            ) from None
    else:
        try:
            dataset = datasets.load_from_disk(folder)
        except FileNotFoundError as error:
            raise InputError(f"--input {folder} is a folder but not a dataset saved with save_to_disk.") from error
    if not isinstance(dataset, datasets.DatasetDict) and split is not None and Path(folder).exists():
        raise InputError(f"--input {folder} is one dataset without splits; leave out --split {split}.")
    if isinstance(dataset, datasets.DatasetDict):
        if split is None and len(dataset) > 1:
            raise InputError(f"--input {folder} has the splits {sorted(dataset)}; choose one with --split.")
        if split is not None and split not in dataset:
            raise InputError(f"--input {folder} has no split {split!r}; it has {sorted(dataset)}.")
        dataset = dataset[split or next(iter(dataset))]
    return [(f"{folder}[{index}]", row) for index, row in enumerate(dataset)]


def json_value(value: Any) -> Any:
    """JSON for the values a dataset row may hold beyond JSON's own: dates and times as ISO 8601
    text, durations in seconds, decimals as text, bytes as base64 text."""
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"a {type(value).__name__} value cannot be written into a JSON output line.")


def _prediction_fields(records: Sequence[dict[str, Any]]) -> tuple[str, str]:
    """`labels`/`scores`, or with a `predicted_` prefix (repeated as needed) when the input already
    uses those names: no input field is ever overwritten."""
    fields = PREDICTION_FIELDS
    while any(name in record for record in records for name in fields):
        fields = tuple(f"predicted_{name}" for name in fields)
    if fields != PREDICTION_FIELDS:
        print(
            f"gliclass: note: the input has fields named like the predictions; they go to {fields[0]!r}/{fields[1]!r}.",
            file=sys.stderr,
        )
    return fields


def _output_line(record: dict[str, Any], result: dict[str, Any], fields: tuple[str, str], bare: bool) -> dict[str, Any]:
    if bare:  # texts from the command line: the pipeline's own result
        return result
    return {**record, fields[0]: result["labels"], fields[1]: result["scores"]}


def _one_line(error: BaseException | str) -> str:
    return " ".join(str(error).split()) or type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
