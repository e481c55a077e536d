"""Classification on a Ray cluster (`pip install gliclass[ray]`): a `map_batches`-ready predictor
and a command for Parquet / JSONL datasets.

    import ray
    from gliclass.ray_predictor import GLiClassPredictor

    predictions = ray.data.read_parquet("texts/").map_batches(
        GLiClassPredictor,
        fn_constructor_kwargs={"candidate_labels": ["sports", "politics"], "top_k": 2},
        compute=ray.data.ActorPoolStrategy(size=4),  # actors; each loads the model once and keeps its label vectors
        num_cpus=2,  # per actor (or num_gpus=1)
        batch_size=256,
        batch_format="pandas",  # or "numpy", "pyarrow"
    )
    predictions.write_parquet("predictions/")

    python -m gliclass.ray_predictor --labels "sports,politics" --input texts.parquet --output predictions/
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

from .cli import InputError, checked_record, run_command
from .jsonl import read_jsonl
from .options import check_batch_size, check_threshold, is_per_text, labels_per_text, prompts_per_text
from .pipeline import pipeline
from .prompt import check_text

PROG = "python -m gliclass.ray_predictor"
PREDICTION_FIELDS = ("labels", "scores")
FORMATS = {".parquet": "parquet", ".jsonl": "json", ".json": "json"}


class GLiClassPredictor:
    """Adds `labels` and `scores` columns (each row's labels sorted by score) to a batch of texts.

    Built once per Ray actor: the model is loaded in `__init__` and, for models that encode labels
    apart, the label vectors of `candidate_labels` are computed there and kept. A batch is a dict of
    numpy arrays, a pandas DataFrame or a pyarrow Table (`batch_format="numpy"` / `"pandas"` /
    `"pyarrow"`) and comes back in the same form with every input column kept. When the input
    already has `labels`/`scores` columns (gold labels), the predictions go to
    `predicted_labels`/`predicted_scores`.

    Args:
        candidate_labels: the label set of every row (list, comma-separated string or `{label: description}`).
        model: path or hub id of a GLiClass model (None: the model shipped in the package).
        text_column: the column holding the texts.
        device: as for `gliclass.pipeline` (None: CUDA when the actor has a GPU).
        torch_threads: CPU threads of this actor's model (None: torch's default).
        **options: the pipeline's call options (`threshold`, `top_k`, `multi_label`, `prompt`,
            `shortlist`, `batch_size`, ...) and construction options (`dtype`, `fast`, ...).
    """

    def __init__(
        self,
        candidate_labels: Any,
        model: str | Path | None = None,
        text_column: str = "text",
        device: int | str | None = None,
        torch_threads: int | None = None,
        **options: Any,
    ) -> None:
        # one value for all rows: a list per text would be paired with each batch's rows by position
        shared = {"candidate_labels": "one label set (a list, 'a, b' or {label: description})", "prompt": "one string"}
        for name, value in (("candidate_labels", candidate_labels), ("prompt", options.get("prompt"))):
            if is_per_text(name, value):
                raise ValueError(
                    f"{name} must be {shared[name]} for every row, not one per text; got a list of {len(value)}."
                )
        if torch_threads is not None:
            torch.set_num_threads(check_batch_size(torch_threads, "torch_threads"))
        self.text_column = text_column
        self.classifier = pipeline(model=model, device=device, candidate_labels=candidate_labels, **options)
        if self.classifier.label_cache is not None:
            self.classifier.encode_labels(candidate_labels)

    def __call__(self, batch: dict[str, np.ndarray] | Any) -> dict[str, np.ndarray] | Any:
        """The batch with the prediction columns added."""
        arrow = hasattr(batch, "column_names")  # a pyarrow.Table (batch_format="pyarrow")
        columns = list(batch.column_names if arrow else batch)
        if self.text_column not in columns:
            raise ValueError(f"the batch has no {self.text_column!r} column; its columns are {sorted(columns)}.")
        column = batch[self.text_column]
        texts = column.to_pylist() if arrow else [str(text) if isinstance(text, np.str_) else text for text in column]
        for text in texts:  # named by column: the pipeline's "text N" would count within this batch, not the dataset
            check_text(text, f"a value of the {self.text_column!r} column")
        results = self.classifier(texts) if texts else []
        fields = PREDICTION_FIELDS
        while any(name in columns for name in fields):
            fields = tuple(f"predicted_{name}" for name in fields)
        labels, scores = ([result[key] for result in results] for key in PREDICTION_FIELDS)
        if isinstance(batch, dict):
            return {**batch, fields[0]: _object_array(labels), fields[1]: _object_array(scores)}
        import pandas
        import pyarrow

        # typed columns: a batch whose texts kept no label would otherwise be list<null>, and a
        # Parquet folder whose files disagree on the type cannot be read back as one table
        types = pyarrow.list_(pyarrow.string()), pyarrow.list_(pyarrow.float64())
        if arrow:
            return batch.append_column(fields[0], pyarrow.array(labels, types[0])).append_column(
                fields[1], pyarrow.array(scores, types[1])
            )
        series = (
            pandas.Series(values, index=batch.index, dtype=pandas.ArrowDtype(arrow_type))
            for values, arrow_type in zip((labels, scores), types)
        )
        return batch.assign(**dict(zip(fields, series)))


def _ray() -> ModuleType:
    """The `ray` module (`OSError` that says how to install it without the `ray` extra)."""
    try:
        import ray
    except ModuleNotFoundError as error:
        if error.name != "ray":  # Ray is there but broken: its own message
            raise
        raise OSError("Ray is not installed (the ray extra): pip install 'gliclass[ray]'.") from None
    return ray


def _object_array(values: list[list[Any]]) -> np.ndarray:
    """A 1-D object array of lists (numpy would make a 2-D array of equal-length lists)."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def classify_dataset(
    input_path: str,
    output_path: str,
    candidate_labels: Any,
    model: str | None = None,
    text_column: str = "text",
    input_format: str | None = None,
    output_format: str | None = None,
    concurrency: int = 1,
    cpus_per_actor: float = 1,
    gpus_per_actor: float = 0,
    rows_per_batch: int = 256,
    **options: Any,
) -> int:
    """Classify a Parquet or JSONL file / folder (local or any filesystem Ray reads) into
    `output_path` (a folder of Parquet or JSONL files, rows in input order) on the Ray cluster this
    process is connected to (`ray.init()` first); returns the number of rows written."""
    ray = _ray()

    input_format = input_format or _format_of(input_path, "--input-format")
    if input_format == "json" and "://" not in input_path and not _check_json_lines(Path(input_path), text_column):
        raise InputError(f"{input_path} holds no rows to classify.")  # Ray 2.10's reader fails on an empty file
    output_format = output_format or input_format
    if output_format not in ("parquet", "json"):
        raise ValueError(f"the output format must be parquet or json, got {output_format!r}.")
    output = Path(output_path)
    if "://" not in output_path and output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise OSError(f"--output {output_path} already exists and is not an empty folder; choose a new folder.")
    cpus = ray.cluster_resources().get("CPU", 0)
    if concurrency * cpus_per_actor >= cpus:  # seen to stall: no CPU left for the read and write tasks
        raise InputError(
            f"--concurrency {concurrency} x --cpus-per-actor {cpus_per_actor:g} takes all {cpus:g} CPUs of the Ray "
            "cluster and leaves none to read and write the files; use fewer actors or a fraction of a CPU each."
        )
    gpus = ray.cluster_resources().get("GPU", 0)
    if concurrency * gpus_per_actor > gpus:  # Ray would wait for them forever
        raise InputError(
            f"--concurrency {concurrency} x --gpus-per-actor {gpus_per_actor:g} needs more GPUs than the "
            f"{gpus:g} of the Ray cluster."
        )
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # output rows in input order
    reader = ray.data.read_parquet if input_format == "parquet" else ray.data.read_json
    dataset = reader(input_path, **_reader_options(input_path))
    rows = dataset.count()
    if not rows:
        raise InputError(f"{input_path} holds no rows to classify.")
    if text_column not in dataset.columns():
        raise InputError(f"{input_path} has no {text_column!r} column; its columns are {dataset.columns()}.")
    predictions = dataset.map_batches(
        GLiClassPredictor,
        fn_constructor_kwargs=dict(
            candidate_labels=candidate_labels,
            model=model,
            text_column=text_column,
            torch_threads=max(1, int(cpus_per_actor)),
            **options,
        ),
        compute=ray.data.ActorPoolStrategy(size=concurrency),
        num_cpus=cpus_per_actor,
        num_gpus=gpus_per_actor,
        batch_size=rows_per_batch,
        batch_format="pyarrow",  # pandas batches keep ArrowDtype columns that Ray 2.10 writes as unreadable Parquet
    )
    if output_format == "parquet":
        predictions.write_parquet(output_path)
    else:
        predictions.write_json(output_path, lines=True, force_ascii=False)
    return rows


def _actor_error(error: Exception) -> str:
    """The message of the error a Ray task or actor raised. Ray appends lines (retry advice) to it,
    and wraps an actor's own error ("UDF failed to process a data block"), whose message is then
    only in the worker's traceback text."""
    wrapped = re.findall(r"^\w[\w.]*: (.+)\n\nThe above exception was the direct cause", str(error), re.M)
    if wrapped:
        return wrapped[-1]
    cause = getattr(error, "cause", None)
    return str(cause if isinstance(cause, Exception) else error).strip().splitlines()[0]


def _creation_error(error: Exception) -> str | None:
    """The message of the error an actor's `__init__` raised (loading the model), from Ray's
    `RayActorError` (`ActorDiedError` in newer Ray), which keeps only the text of its traceback (the
    error last); None when the actor died of something else."""
    text = str(error)
    raised = re.findall(r"^\w[\w.]*: (.+)$", text, re.M) if "error raised in its creation task" in text else []
    return raised[-1] if raised else None


def _check_json_lines(path: Path, text_column: str) -> int:
    """Every line of a local JSONL input (a file, or the .jsonl/.json files of a folder) checked as
    `gliclass classify` checks it, so that a mistake is named by FILE:LINE before Ray starts
    (Ray's reader reports a bad line as "Extra data" at a byte offset); returns the number of rows."""
    files = sorted(file for file in path.iterdir() if file.suffix in (".jsonl", ".json")) if path.is_dir() else [path]
    rows = 0
    for file in files:
        for where, record in read_jsonl(file, InputError):
            checked_record(where, record, text_column)
            rows += 1
    return rows


def _reader_options(path: str) -> dict[str, Any]:
    """Ray's readers take only files named for their format (`.parquet`; `.json`, `.jsonl`, ...): a
    single local file named otherwise (read with `--input-format`) is read by its own extension."""
    local = Path(path)
    if "://" in path or not local.is_file() or local.suffix in FORMATS:
        return {}
    if not local.suffix:
        raise InputError(
            f"--input {path} has no extension, which Ray needs to read a file; add one (.parquet, .jsonl)."
        )
    return {"file_extensions": [local.suffix[1:]]}


def _format_of(path: str, option: str) -> str:
    """`parquet` or `json` from a file's extension or the files of a folder."""
    local = Path(path)
    suffixes = {file.suffix for file in local.iterdir() if file.is_file()} if local.is_dir() else {local.suffix}
    formats = {FORMATS[suffix] for suffix in suffixes if suffix in FORMATS}
    if len(formats) != 1:
        raise InputError(f"cannot tell the format of {path} (.parquet or .jsonl files); pass {option}.")
    return formats.pop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Classify a Parquet or JSONL dataset on a Ray cluster (RAY_ADDRESS or --address; "
        "without either, a local Ray instance).",
    )
    parser.add_argument("--labels", required=True, help='candidate labels, comma-separated: "sports, politics"')
    parser.add_argument("--input", required=True, help="a Parquet or JSONL file or folder (any path Ray reads)")
    parser.add_argument("--output", required=True, help="a new folder for the result files")
    parser.add_argument("--model", default=None, help="GLiClass model folder or hub id (default: the shipped one)")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--input-format", choices=("parquet", "json"), default=None, help="default: from the name")
    parser.add_argument("--output-format", choices=("parquet", "json"), default=None, help="default: the input's")
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--top-k", type=int, default=None)
    parser.add_argument("--single-label", action="store_true", help="softmax over the labels instead of sigmoid")
    parser.add_argument("--prompt", default=None)
    parser.add_argument("--address", default=None, help="Ray cluster address (default: $RAY_ADDRESS, else local)")
    parser.add_argument("--concurrency", type=int, default=1, help="model actors (each loads the model once)")
    parser.add_argument("--cpus-per-actor", type=float, default=1, help="CPUs (and torch threads) per actor")
    parser.add_argument("--gpus-per-actor", type=float, default=0)
    parser.add_argument("--rows-per-batch", type=int, default=256, help="rows handed to an actor at a time")
    parser.add_argument("--batch-size", type=int, default=None, help="encoder rows per forward pass")
    args = parser.parse_args(argv)
    return run_command(parser.prog, lambda: _run(args), (ValueError, OSError, TypeError))


def _run(args: argparse.Namespace) -> int:
    ray = _ray()

    checks = [
        ("--labels", lambda: labels_per_text(args.labels, None)),
        ("--prompt", lambda: prompts_per_text(args.prompt, None)),
        ("--threshold", lambda: args.threshold is None or check_threshold(args.threshold)),
        ("--top-k", lambda: args.top_k is None or check_batch_size(args.top_k, "top_k")),
        ("--batch-size", lambda: args.batch_size is None or check_batch_size(args.batch_size)),
        ("--concurrency", lambda: check_batch_size(args.concurrency, "concurrency")),
        ("--rows-per-batch", lambda: check_batch_size(args.rows_per_batch, "rows per batch")),
    ]
    for option, check in checks:
        try:
            check()
        except (TypeError, ValueError) as error:
            raise InputError(f"{option}: {error}") from None
    if args.cpus_per_actor <= 0 or args.gpus_per_actor < 0:
        raise InputError("--cpus-per-actor must be positive and --gpus-per-actor not negative.")
    if "://" not in args.input and not Path(args.input).exists():
        raise OSError(f"--input {args.input} does not exist.")
    options = dict(
        threshold=args.threshold,
        top_k=args.top_k,
        multi_label=not args.single_label,
        prompt=args.prompt,
        batch_size=args.batch_size,
    )
    started_here = not ray.is_initialized()  # else: the caller's connection, left open
    if started_here:
        ray.init(address=args.address or os.environ.get("RAY_ADDRESS"), log_to_driver=False, configure_logging=False)
    try:
        rows = classify_dataset(
            args.input,
            args.output,
            args.labels,
            model=args.model,
            text_column=args.text_column,
            input_format=args.input_format,
            output_format=args.output_format,
            concurrency=args.concurrency,
            cpus_per_actor=args.cpus_per_actor,
            gpus_per_actor=args.gpus_per_actor,
            rows_per_batch=args.rows_per_batch,
            device="cuda" if args.gpus_per_actor else "cpu",  # the actors' device, not this machine's
            **{name: value for name, value in options.items() if value is not None},
        )
    except ray.exceptions.RayTaskError as error:  # a mistake met inside an actor: its own message
        raise InputError(_actor_error(error)) from None
    except ray.exceptions.RayActorError as error:  # e.g. a model that cannot be loaded (newer Ray: ActorDiedError)
        raised = _creation_error(error)
        if raised is None:
            raise
        raise InputError(raised) from None
    finally:
        if started_here:
            ray.shutdown()
    print(f"{PROG}: wrote {rows} rows to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
