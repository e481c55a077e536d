"""Command line: `gliclass classify [--model PATH] --labels "a,b,c" TEXT...` or `--input file.jsonl`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from tqdm import tqdm


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gliclass", description="Zero-shot text classification with GLiClass.")
    commands = parser.add_subparsers(dest="command", required=True)
    classify = commands.add_parser("classify", help="classify texts given on the command line or in a JSONL file")
    classify.add_argument("--model", default=None, help="GLiClass model folder or hub id (default: the model shipped in the package)")
    classify.add_argument("--labels", required=True, help='candidate labels, comma-separated: "sports, politics"')
    classify.add_argument("--threshold", type=float, default=None, help="keep labels scoring at least this")
    classify.add_argument("--single-label", action="store_true", help="softmax over the labels instead of sigmoid")
    classify.add_argument("--prompt", default=None, help="task description put into the input")
    classify.add_argument("--input", type=Path, default=None, help="JSONL file whose lines have a 'text' field")
    classify.add_argument("--batch-size", type=int, default=None)
    classify.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: CUDA when present)")
    classify.add_argument("--fast", action="store_true", help="approximate speed mode (bfloat16 autocast)")
    classify.add_argument("--windows", action="store_true", help="score long texts in overlapping windows")
    classify.add_argument("texts", nargs="*", help="texts to classify")
    args = parser.parse_args(argv)
    if bool(args.texts) == bool(args.input):
        parser.error("give either TEXT arguments or --input FILE, not both or neither")
    if args.input is not None and not args.input.is_file():
        parser.error(f"--input {args.input} does not exist")
    return _classify(args)


def _classify(args: argparse.Namespace) -> int:
    from .pipeline import pipeline

    classifier = pipeline(model=args.model, device=args.device, fast=args.fast)
    options = dict(
        candidate_labels=args.labels,
        multi_label=not args.single_label,
        threshold=args.threshold,
        prompt=args.prompt,
        windows=args.windows,
        batch_size=args.batch_size,
    )
    if args.texts:
        for result in classifier(list(args.texts), **options):
            print(json.dumps(result, ensure_ascii=False))
        return 0
    texts = list(_read_texts(args.input))
    chunk = 256
    with tqdm(total=len(texts), desc="classifying", unit="text", file=sys.stderr) as progress:
        for begin in range(0, len(texts), chunk):
            for result in classifier(texts[begin : begin + chunk], **options):
                print(json.dumps(result, ensure_ascii=False))
            sys.stdout.flush()
            progress.update(min(chunk, len(texts) - begin))
    return 0


def _read_texts(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise SystemExit(f"{path}:{number}: not valid JSON ({error.msg})") from error
            if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                raise SystemExit(f"{path}:{number}: no 'text' string field")
            yield record["text"]


if __name__ == "__main__":
    sys.exit(main())
