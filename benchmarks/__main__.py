"""`python -m benchmarks {accuracy,speed,plot}`: zero-shot accuracy and speed of GLiClass against baselines.

Systems are given as `--system KIND=PATH_OR_ID` (repeatable), KIND one of gliclass, cross-encoder,
embedding; `@minilm` is the packaged all-MiniLM-L6-v2 and `untrained:BACKBONE` a random head on a
backbone (timing only). Results go to `--out` as `<name>.md` and `<name>.json` (and `<name>.png`
for speed); without `--out`, to a new folder `runs/benchmarks/<date-time>/` (git-ignored), so a run
never overwrites the committed results: pass `--out benchmarks/results` to refresh those on purpose.

`accuracy --suite paper` reads the suite's datasets from the hub; `--hub-dir DIR` reads them instead
from local copies saved with `DatasetDict.save_to_disk` at `DIR/<hub id>` (`DIR/<hub id>/<config>` for
a dataset with a config), same splits, columns and label features: an offline run of the same parsing.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path

from gliclass.cli import run_command

from .arguments import counts, dataset_names, device, positive_int
from .loading import default_eval_dir
from .processes import WorkerError
from .report import check_output, command_line, cpu_count, environment, new_run_folder, write_run
from .suites import SUITES
from .systems import DEFAULT_TEMPLATE, PACKAGED_MINILM, UNTRAINED, SystemSpec, parse_system

ACCURACY_DEFAULT_SYSTEMS = [f"embedding={PACKAGED_MINILM}"]
SPEED_DEFAULT_SYSTEMS = [
    f"gliclass={UNTRAINED}{PACKAGED_MINILM}",
    f"cross-encoder={UNTRAINED}{PACKAGED_MINILM}",
    f"embedding={PACKAGED_MINILM}",
]


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    code = run_command(
        "python -m benchmarks", lambda: args.run(args, argv), (ValueError, OSError, ImportError, WorkerError)
    )
    if code:
        sys.exit(code)
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    accuracy = commands.add_parser("accuracy", help="macro-F1, micro-F1, accuracy (and mAP) per dataset and system")
    source = accuracy.add_mutually_exclusive_group()
    source.add_argument(
        "--data-dir", type=Path, default=None, help="folders of meta.json + test.jsonl (default: the shared eval sets)"
    )
    source.add_argument("--suite", choices=sorted(SUITES), help="hub datasets of a published suite (needs the hub)")
    accuracy.add_argument(
        "--datasets", type=dataset_names, default=None, help="comma-separated dataset names (default: all)"
    )
    accuracy.add_argument(
        "--threshold", type=_unit, default=0.5, help="multi-label decision threshold on scores (default 0.5)"
    )
    accuracy.add_argument(
        "--limit", type=positive_int, default=None, help="at most N examples per dataset (seeded sample)"
    )
    accuracy.add_argument("--cache-dir", default=None, help="cache folder for the datasets library")
    accuracy.add_argument(
        "--hub-dir",
        type=Path,
        default=None,
        help="with --suite: local save_to_disk copies at DIR/<hub id>[/<config>] instead of the hub",
    )
    _common(accuracy, "accuracy", ACCURACY_DEFAULT_SYSTEMS)
    accuracy.set_defaults(run=run_accuracy_command)

    speed = commands.add_parser("speed", help="texts/s and peak memory against the number of labels")
    speed.add_argument(
        "--data-dir", type=Path, default=None, help="eval folders the texts and label names come from (default: shared)"
    )
    speed.add_argument("--texts", type=positive_int, default=128, help="texts per timed run (default 128)")
    speed.add_argument(
        "--labels", type=counts, default=(1, 2, 4, 8, 16, 32, 64, 128), help="label counts, comma-separated"
    )
    speed.add_argument(
        "--embedding-labels",
        type=counts,
        default=(1000, 10000),
        help="extra label counts for embedding systems (label vectors cached); '' for none",
    )
    speed.add_argument(
        "--repeats", type=positive_int, default=5, help="interleaved timed rounds per label count (default 5)"
    )
    speed.add_argument("--reference-python", default=None, help="python of a venv with the reference gliclass package")
    speed.add_argument("--no-plot", action="store_true", help="skip the PNG plot")
    _common(speed, "speed", SPEED_DEFAULT_SYSTEMS)
    speed.set_defaults(run=run_speed_command)

    plot = commands.add_parser("plot", help="redraw the PNG of a speed run's JSON")
    plot.add_argument("result", type=Path, help="a speed JSON file")
    plot.add_argument("--output", type=Path, default=None, help="PNG path (default: beside the JSON)")
    plot.set_defaults(run=run_plot_command)
    return parser


def _common(parser: argparse.ArgumentParser, name: str, default_systems: list[str]) -> None:
    parser.add_argument(
        "--system",
        dest="systems",
        type=_system,
        action="append",
        default=None,
        metavar="KIND=PATH_OR_ID",
        help=f"repeatable; KIND: gliclass, cross-encoder, embedding (default: {' '.join(default_systems)})",
    )
    parser.add_argument(
        "--template", default=DEFAULT_TEMPLATE, help=f"cross-encoder hypothesis (default {DEFAULT_TEMPLATE!r})"
    )
    parser.add_argument("--batch-size", type=positive_int, default=32, help="rows per forward pass (default 32)")
    parser.add_argument(
        "--threads", type=positive_int, default=cpu_count(), help="torch threads (default: the CPUs available)"
    )
    parser.add_argument("--device", type=device, default="cpu", help="torch device (default cpu)")
    parser.add_argument("--seed", type=int, default=0, help="seed for sampling and untrained heads (default 0)")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default: a new runs/benchmarks/<date-time>; never benchmarks/results unless given)",
    )
    parser.add_argument("--name", default=name, help=f"output file stem (default {name!r})")
    parser.set_defaults(default_systems=default_systems)


def run_accuracy_command(args: argparse.Namespace, argv: list[str]) -> int:
    import torch

    from .accuracy import accuracy_markdown, mean_scores, run_accuracy
    from .loading import local_sets, suite_sets

    specs = _systems(args)
    check_output(args.out, "--out")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    if args.hub_dir and not args.suite:
        raise ValueError("--hub-dir holds copies of a suite's hub datasets: give --suite too.")
    if args.suite:
        sets = suite_sets(args.suite, args.datasets, args.limit, args.seed, args.cache_dir, args.hub_dir)
    else:
        sets = local_sets(args.data_dir or default_eval_dir(), args.datasets, args.limit, args.seed)
    results = run_accuracy(sets, specs, args.threshold, args.device, args.batch_size, args.seed, args.template)
    command = command_line(argv)
    payload = {
        "benchmark": "accuracy",
        "command": command,
        "settings": _settings(args),
        "environment": environment(),
        "systems": [{"name": spec.name, "kind": spec.kind, "model": spec.model} for spec in specs],
        "datasets": [
            {
                "name": item.data.name,
                "examples": len(item.data.examples),
                "labels": len(item.data.labels),
                "multi_label": item.data.multi_label,
                "source": item.source,
            }
            for item in sets
        ],
        "results": results,
        "means": mean_scores(sets, results),
    }
    limit = f"at most {args.limit} examples per set (seeded sample)" if args.limit else "all examples"
    markdown = (
        f"# Zero-shot accuracy\n\n`{command}`\n\n{len(sets)} datasets, {limit}; single-label sets by top "
        f"label, multi-label sets by score ≥ {args.threshold}. Seed {args.seed}.\n\n" + accuracy_markdown(sets, results)
    )
    for path in write_run(args.out or new_run_folder(), args.name, markdown, payload):
        print(f"wrote {path}")
    return 0


def run_speed_command(args: argparse.Namespace, argv: list[str]) -> int:
    from .data import sample_texts_and_labels
    from .labels import label_pool
    from .speed import SpeedSettings, run_speed, settings_dict, speed_markdown

    specs = _systems(args)
    check_output(args.out, "--out")
    settings = SpeedSettings(
        args.texts,
        args.labels,
        args.embedding_labels,
        args.repeats,
        args.threads,
        args.batch_size,
        args.seed,
        args.device,
        args.template,
    )
    eval_dir = args.data_dir or default_eval_dir()
    texts, _ = sample_texts_and_labels(args.texts, seed=args.seed, root=eval_dir)
    needed = max(
        settings.label_counts + (settings.embedding_label_counts if any(s.kind == "embedding" for s in specs) else ())
    )
    pool = label_pool(needed, eval_dir, args.seed)
    reference_model = next(
        (spec.model for spec in specs if spec.kind == "gliclass" and not spec.model.startswith(UNTRAINED)), None
    )
    results = run_speed(specs, texts, pool, settings, args.reference_python, reference_model)
    command = command_line(argv)
    payload = {
        "benchmark": "speed",
        "command": command,
        "settings": settings_dict(settings) | {"data_dir": str(eval_dir), "reference_python": args.reference_python},
        "environment": environment(),
        "systems": [{"name": spec.name, "kind": spec.kind, "model": spec.model} for spec in specs],
        "label_pool_size": len(pool),  # the texts are not stored: the eval data may not be redistributed
        "results": results,
    }
    untrained = [spec.name for spec in specs if spec.model.startswith(UNTRAINED)]
    note = (
        f"\n\nUntrained systems (random heads, timing only, not classifiers): {', '.join(untrained)}."
        if untrained
        else ""
    )
    markdown = f"# Speed\n\n`{command}`{note}\n\n" + speed_markdown(results, settings)
    out = args.out or new_run_folder()
    paths = list(write_run(out, args.name, markdown, payload))
    if not args.no_plot:
        from .plot import plot_speed

        paths.append(plot_speed(payload, out / f"{args.name}.png"))
    for path in paths:
        print(f"wrote {path}")
    return 0


def run_plot_command(args: argparse.Namespace, argv: list[str]) -> int:
    from .plot import plot_speed

    try:
        payload = json.loads(args.result.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        payload = None
    if not isinstance(payload, dict) or payload.get("benchmark") != "speed":
        raise ValueError(f"{args.result} is not the JSON of a speed run.")
    print(f"wrote {plot_speed(payload, args.output or args.result.with_suffix('.png'))}")
    return 0


def _systems(args: argparse.Namespace) -> list[SystemSpec]:
    specs = args.systems or [parse_system(text) for text in args.default_systems]
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"two systems share a name: {names}; give each a different model.")
    return specs


def _settings(args: argparse.Namespace) -> dict:
    skip = {"run", "default_systems", "systems"}
    return {
        key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items() if key not in skip
    }


def _system(text: str) -> SystemSpec:
    try:
        return parse_system(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def _unit(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}.")
    return value


if __name__ == "__main__":
    sys.exit(main())
