"""Checks on a checkpoint folder before loading it: config present, safetensors weights complete."""

from __future__ import annotations

import json
import struct
from pathlib import Path

WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX_FILE = "model.safetensors.index.json"
PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json")


def check_checkpoint_folder(folder: Path) -> None:
    """Raise `ValueError` when `folder` cannot hold a loadable GLiClass checkpoint."""
    if not (folder / "config.json").is_file():
        raise ValueError(f"{folder} has no config.json; it is not a saved GLiClass model.")
    if (folder / WEIGHTS_INDEX_FILE).is_file():
        index = json.loads((folder / WEIGHTS_INDEX_FILE).read_text())
        shards = sorted(set(index.get("weight_map", {}).values()))
        if not shards:
            raise ValueError(f"{folder / WEIGHTS_INDEX_FILE} lists no weight files.")
        for shard in shards:
            check_safetensors_file(folder / shard)
        return
    if (folder / WEIGHTS_FILE).is_file():
        check_safetensors_file(folder / WEIGHTS_FILE)
        return
    if any((folder / name).is_file() for name in PICKLE_WEIGHTS):
        raise ValueError(
            f"{folder} holds only pickled PyTorch weights (pytorch_model.bin); this library reads safetensors only. "
            "Convert them in a trusted environment first."
        )
    raise ValueError(f"{folder} has no weights file ({WEIGHTS_FILE}).")


def check_safetensors_file(path: Path) -> None:
    """Raise `ValueError` when `path` is missing, not safetensors, or shorter than its header says."""
    if not path.is_file():
        raise ValueError(f"weights file {path} is missing.")
    size = path.stat().st_size
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise ValueError(f"weights file {path} is truncated ({size} bytes).")
        (header_size,) = struct.unpack("<Q", prefix)
        if header_size > size - 8:
            raise ValueError(f"weights file {path} is truncated or not a safetensors file.")
        try:
            header = json.loads(handle.read(header_size))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"weights file {path} has a corrupt safetensors header.") from error
    data_end = max((entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"), default=0)
    if 8 + header_size + data_end > size:
        raise ValueError(
            f"weights file {path} is truncated: {size} bytes, the header needs {8 + header_size + data_end}."
        )
