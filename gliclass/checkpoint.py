"""Checks around loading a checkpoint: the folder exists and holds a GLiClass config and complete
safetensors weights, and every tensor of the model was found in them. Saving: the target folder, and
tokenizer files that transformers 4 reads too."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from transformers import PretrainedConfig
from transformers.utils import cached_file
from transformers.utils.hub import extract_commit_hash

from .prompt import LABEL_TOKEN, SEP_TOKEN

WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX_FILE = "model.safetensors.index.json"
PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json")


MODEL_TYPE = "GLiClass"
SENTENCEPIECE_FILES = ("spm.model", "tokenizer.model", "spiece.model", "sentencepiece.bpe.model")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", *SENTENCEPIECE_FILES)
HUB_OPTIONS = ("cache_dir", "force_download", "local_files_only", "token", "revision", "subfolder", "proxies")


def check_model_location(name_or_path: str | os.PathLike, subfolder: str = "") -> None:
    """Raise `OSError` for a local path that does not exist (anything that cannot be a hub id),
    and check a local folder's contents (in `subfolder` of it, where given)."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        check_checkpoint_folder(path / subfolder if subfolder else path)
        return
    if path.exists():
        raise OSError(f"{name_or_path} is a file; give the model's folder (with config.json and weights).")
    if not looks_like_hub_id(str(name_or_path)):
        raise OSError(f"model folder {name_or_path} does not exist.")


def local_or_hub_name(name_or_path: str | os.PathLike) -> str | os.PathLike:
    """`~/folder` as the folder it names when that exists (transformers does not expand `~`)."""
    expanded = Path(name_or_path).expanduser()
    return expanded if str(name_or_path).startswith("~") and expanded.exists() else name_or_path


def looks_like_hub_id(name: str) -> bool:
    """`name` or `owner/name` made of letters, digits, `-`, `_`, `.` (not starting with `.`)."""
    parts = name.split("/")
    return 1 <= len(parts) <= 2 and all(
        part and not part.startswith(".") and all(char.isalnum() or char in "-_." for char in part) for part in parts
    )


def is_gliclass_checkpoint(name_or_path: str | os.PathLike) -> bool:
    """Whether the config of a local folder or hub id is a GLiClass one (not a backbone encoder's);
    errors as `config_model_type` gives them."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            return False
        check_config_file(path / "config.json")
    elif path.exists() or not looks_like_hub_id(str(name_or_path)):
        raise OSError(f"model {name_or_path} is neither a model folder nor a hub id.")
    return config_model_type(path if path.is_dir() else name_or_path, {}) == MODEL_TYPE


def hub_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The `from_pretrained` options that say where and how to fetch files."""
    return {name: kwargs[name] for name in HUB_OPTIONS if name in kwargs}


def check_model_type(name_or_path: str | os.PathLike, kwargs: dict[str, Any]) -> None:
    """Raise `ValueError` unless the config of `name_or_path` describes a GLiClass model (errors
    reading it as `config_model_type` gives them)."""
    model_type = config_model_type(name_or_path, kwargs)
    if model_type != MODEL_TYPE:
        raise ValueError(
            f"{name_or_path} is not a GLiClass checkpoint: its config has model_type={model_type!r}, "
            f"expected {MODEL_TYPE!r}."
        )


def config_model_type(name_or_path: str | os.PathLike, kwargs: dict[str, Any]) -> Any:
    """The `model_type` of the config of a local folder or hub id (`kwargs`: the hub options);
    `OSError` naming both places looked in when a hub id cannot be fetched, `ValueError` when the
    config is not a JSON object."""
    try:
        config, _ = PretrainedConfig.get_config_dict(name_or_path, **hub_options(kwargs))
    except OSError as error:
        if Path(name_or_path).expanduser().exists():
            raise
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        asked = ", ".join(f"{name} {kwargs[name]!r}" for name in ("revision", "subfolder") if kwargs.get(name))
        raise OSError(
            f"{name_or_path} is not a local folder, and fetching it from the hub{f' ({asked})' if asked else ''} "
            f"failed: {reason}"
        ) from error
    return config_object(config, name_or_path).get("model_type")


def check_loading_info(info: dict[str, Any], name_or_path: str | os.PathLike) -> None:
    """Raise `ValueError` when the weights lack tensors of the model, hold tensors it does not
    have, or hold tensors of other shapes: such a model would score with random parts."""
    problems = {
        "missing": sorted(info.get("missing_keys") or []),
        "unexpected": sorted(info.get("unexpected_keys") or []),
        "with another shape": sorted(map(_shape_change, info.get("mismatched_keys") or [])),
    }
    found = [f"{len(keys)} tensor(s) {what} (e.g. {', '.join(keys[:4])})" for what, keys in problems.items() if keys]
    if found:
        raise ValueError(
            f"the weights of {name_or_path} do not match the model its config describes: {'; '.join(found)}. "
            "Loading it would leave random parts; was it saved by a GLiClass library with these options?"
        )


def _shape_change(entry: Any) -> str:
    """A reshaped tensor as transformers reports it, `(name, shape in the file, shape in the model)`."""
    if isinstance(entry, tuple) and len(entry) == 3:
        key, saved, expected = entry
        return f"{key}: {list(saved)} in the file, {list(expected)} in the model"
    return str(entry)


class LoadReportFilter(logging.Filter):
    """Drops transformers' "LOAD REPORT" table of missing, unexpected or reshaped tensors: such
    weights are refused by `check_loading_info` with one line naming them (the table would say they
    were "newly initialized", and print before the error)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return " LOAD REPORT" not in record.getMessage()


@contextmanager
def without_load_report() -> Iterator[None]:
    """Silence transformers' load report while a checkpoint loads (see `LoadReportFilter`)."""
    logger, report_filter = logging.getLogger("transformers.modeling_utils"), LoadReportFilter()
    logger.addFilter(report_filter)
    try:
        yield
    finally:
        logger.removeFilter(report_filter)


def check_checkpoint_folder(folder: Path) -> None:
    """Raise `OSError` when `folder` lacks the files of a GLiClass checkpoint, `ValueError` when its
    weights index is unreadable."""
    if not folder.is_dir():
        raise OSError(f"model folder {folder} does not exist.")
    if not (folder / "config.json").is_file():
        trained = folder / "final"  # a training or PPO run's output folder: its model is in final/
        hint = f"; the model that training run saved is {trained}" if (trained / "config.json").is_file() else ""
        raise OSError(f"{folder} has no config.json; it is not a saved GLiClass model{hint}.")
    check_config_file(folder / "config.json")
    if (folder / WEIGHTS_INDEX_FILE).is_file():
        for shard in weight_shards(folder / WEIGHTS_INDEX_FILE):
            check_safetensors_file(folder / shard)
        return
    if (folder / WEIGHTS_FILE).is_file():
        check_safetensors_file(folder / WEIGHTS_FILE)
        return
    pickled = [name for name in PICKLE_WEIGHTS if (folder / name).is_file()]
    if pickled:
        raise OSError(
            f"{folder} holds only pickled PyTorch weights ({pickled[0]}); this library reads safetensors only. "
            "Convert them in a trusted environment first."
        )
    raise OSError(f"{folder} has no weights file ({WEIGHTS_FILE}).")


def check_hub_weights(model_id: str, options: dict[str, Any]) -> None:
    """`check_checkpoint_folder`'s weight checks for a hub id (`options`: the hub options): its
    safetensors weights, fetched as loading would fetch them, are there (`OSError`, also when they
    cannot be fetched) and complete (`ValueError` naming the file)."""

    def fetched(name: str) -> str | None:
        return cached_file(model_id, name, _raise_exceptions_for_missing_entries=False, **options)

    single = fetched(WEIGHTS_FILE)  # the index only without it, as transformers looks (each look-up may retry)
    if single is not None:
        check_safetensors_file(Path(single))
        return
    index = fetched(WEIGHTS_INDEX_FILE)
    if index is not None:
        for shard in weight_shards(Path(index)):
            check_safetensors_file(Path(cached_file(model_id, shard, **options)))
        return
    raise OSError(
        f"{model_id}: no {WEIGHTS_FILE} or {WEIGHTS_INDEX_FILE} was found on the hub (offline: in the hub "
        "cache); this library reads safetensors weights only, not pytorch_model.bin."
    )


def hub_commit(model_id: str) -> str | None:
    """The commit a hub model id names now (offline: the cache's), so that a repository updated between a
    run and its resume counts as another model; None when it cannot be fetched (loading it says why)."""
    try:
        return extract_commit_hash(cached_file(model_id, "config.json"), None)
    except OSError:
        return None


def check_config_file(path: Path) -> None:
    """Raise `ValueError` when the JSON in `path` is not an object (transformers before 5.18 failed
    on it with a TypeError); a file that is not JSON is left to transformers to report."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return
    config_object(config, path.parent)


def config_object(config: Any, name_or_path: str | os.PathLike) -> dict[str, Any]:
    """`config` when it is a JSON object, else a `ValueError` naming the model's config.json."""
    if not isinstance(config, dict):
        raise ValueError(f"the config.json of {name_or_path} holds {type(config).__name__}, not a JSON object.")
    return config


def weight_shards(index_file: Path) -> list[str]:
    """The safetensors files a `model.safetensors.index.json` lists (`ValueError` naming the file
    when it is not such an index)."""
    try:
        index = json.loads(index_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{index_file} is not valid JSON: {error}") from error
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(name, str) for name in weight_map.values()):
        raise ValueError(f"{index_file} has no weight_map of tensor names to file names.")
    if not weight_map:
        raise ValueError(f"{index_file} lists no weight files.")
    return sorted(set(weight_map.values()))


def check_safetensors_file(path: Path) -> None:
    """Raise `ValueError` when `path` is missing, not safetensors, or shorter than its header says."""
    if not path.is_file():
        raise OSError(f"weights file {path} is missing.")
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


def check_saved_tokenizer_error(name_or_path: str | os.PathLike, error: Exception) -> None:
    """Raise `OSError` saying why the tokenizer saved in a local checkpoint folder failed to load
    (`error`); a folder without tokenizer files is left alone (the caller passes `tokenizer=`)."""
    folder = Path(name_or_path).expanduser()
    if not folder.is_dir():
        return
    sentencepiece = [name for name in SENTENCEPIECE_FILES if (folder / name).is_file()]
    if sentencepiece and importlib.util.find_spec("sentencepiece") is None:
        raise OSError(
            f"the tokenizer in {folder} is a sentencepiece model ({sentencepiece[0]}) without tokenizer.json; "
            "reading it needs the sentencepiece package: pip install sentencepiece protobuf"
        ) from error
    present = [name for name in TOKENIZER_FILES if (folder / name).is_file()]
    if present:
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        raise OSError(f"the tokenizer in {folder} ({', '.join(present)}) could not be loaded: {reason}") from error


def check_tokenizer_size(tokenizer: Any, embeddings: int, where: str | Path) -> None:
    """Raise when a tokenizer does not fit an encoder with `embeddings` token embeddings:

    - `OSError` when it knows far fewer tokens (less than half): its vocabulary files are missing
      (e.g. no `tokenizer.json`) and what loaded in their place would read most words as unknown;
    - `ValueError` when it has tokens past the embeddings (added without resizing them, or another
      model's tokenizer): a text holding one would fail deep inside the encoder."""
    if tokenizer is None:
        return
    if len(tokenizer) < embeddings / 2:
        raise OSError(
            f"the tokenizer in {where} has {len(tokenizer)} tokens but its encoder has {embeddings} embeddings: "
            "its vocabulary files (tokenizer.json, spm.model, vocab.txt, ...) are missing or are another model's."
        )
    beyond = sorted((index, token) for token, index in tokenizer.get_vocab().items() if index >= embeddings)
    if beyond:
        named = ", ".join(f"{token} (id {index})" for index, token in beyond[:5]) + (" ..." if len(beyond) > 5 else "")
        raise ValueError(
            f"the tokenizer in {where} has {len(beyond)} token(s) past the encoder's {embeddings} embeddings: {named}; "
            "tokens were added to it without resizing the model's embeddings, or it is another model's tokenizer."
        )


def check_marker_tokens(config: Any, tokenizer: Any) -> None:
    """Raise `ValueError` when the config's `<<LABEL>>`/`<<SEP>>` ids are not the tokenizer's:
    the model would read the wrong positions and drop labels silently."""
    if config.architecture_type == "bi-encoder":  # its text rows hold no markers
        return
    vocabulary = tokenizer.get_vocab()
    for token, name in ((LABEL_TOKEN, "class_token_index"), (SEP_TOKEN, "text_token_index")):
        if vocabulary.get(token) != getattr(config, name):
            raise ValueError(
                f"config {name}={getattr(config, name)} but the tokenizer's {token} is {vocabulary.get(token)}; "
                "the tokenizer does not belong to this model."
            )


def check_save_folder(save_directory: str | os.PathLike) -> Path:
    """The folder to save into (`~` expanded); an `OSError` when it is an existing file
    (transformers would only log that and save nothing)."""
    folder = Path(save_directory).expanduser()
    if folder.exists() and not folder.is_dir():
        raise OSError(f"cannot save into {save_directory}: it is a file, not a folder.")
    return folder


def remove_stale_weights(folder: Path) -> None:
    """After a save into a folder that held another one, delete the weights layout it did not write.

    transformers deletes old shards but keeps an old `model.safetensors` beside new shards (and
    loads it, the old weights, first) and an old index beside a new `model.safetensors` (listing
    the deleted shards): of the two, the one whose files are all there is the new save's.
    """
    index, single = folder / WEIGHTS_INDEX_FILE, folder / WEIGHTS_FILE
    if not (index.is_file() and single.is_file()):
        return
    try:
        sharded = all((folder / shard).is_file() for shard in weight_shards(index))
    except ValueError:  # an unreadable index is not the one just written
        sharded = False
    (single if sharded else index).unlink()


def save_tokenizer(tokenizer: Any, folder: Path) -> None:
    """Save `tokenizer` into `folder`. A generic fast tokenizer is named `PreTrainedTokenizerFast`, as in
    released checkpoints: transformers 5 writes `TokenizersBackend`, a class transformers 4 does not know."""
    tokenizer.save_pretrained(folder)
    config_file = folder / "tokenizer_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    if config.get("tokenizer_class") == "TokenizersBackend":
        config["tokenizer_class"] = "PreTrainedTokenizerFast"
        config_file.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
