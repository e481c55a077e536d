"""Score untrained embedder-start models with different attention layouts on the eval sets.

    python -m training.compare_layouts --isolated 0,4,6 --limit 300

Every model is built with the `model_options` of the default model's config
(`training/configs/minilm-isolated.yaml`: `start_as_embedder=True`, mean pooling, normalised
vectors) and left untrained; only `segment_isolated_layers` changes. With all layers isolated the
untrained model is the plain embedding model; fewer isolated layers let labels and text mix in the
upper layers, which the pretrained weights were never trained for. This is the measurement behind
the default model's layout (`training/results/README.md`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gliclass.data import eval_sets

from .evaluation import evaluate_set
from .recipe import DEFAULT_MODEL_CONFIG, config_data_dir, load_model, read_config


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.split("\n\n")[0])
    parser.add_argument("--isolated", default="0,4,6", help="segment_isolated_layers values, comma-separated")
    parser.add_argument("--limit", type=int, default=300, help="first N texts of each eval set")
    parser.add_argument(
        "--config", type=Path, default=DEFAULT_MODEL_CONFIG, help="config whose model and model_options are used"
    )
    args = parser.parse_args(argv)
    config = read_config(args.config)
    data_dir = config_data_dir({})
    sets = [labelled for labelled in eval_sets(data_dir / "eval") if not labelled.multi_label]
    report = {}
    for isolated in (int(part) for part in args.isolated.split(",")):
        model = load_model(config["model"], {**config["model_options"], "segment_isolated_layers": isolated})
        scores = {
            labelled.name: evaluate_set(model.eval(), labelled, limit=args.limit)["macro_f1"] for labelled in sets
        }
        report[isolated] = {"macro_f1": scores, "mean": sum(scores.values()) / len(scores)}
        print(
            f"isolated layers {isolated}: mean macro-F1 {report[isolated]['mean']:.3f} "
            + " ".join(f"{name}={value:.3f}" for name, value in scores.items()),
            flush=True,
        )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
