"""A hub cache made by hand, for tests that load by hub id offline (`cache_dir=` or `HF_HUB_CACHE`)."""

import shutil
from pathlib import Path

REVISION = "89abcdef0123456789abcdef0123456789abcdef"


def cached_hub_repository(
    cache: Path, repo_id: str, folder: Path, missing: tuple[str, ...] = (), revision: str = REVISION
) -> Path:
    """`folder` as the hub cache `cache` holds commit `revision` of `repo_id`, now its `main`: fetched
    with `hf download` (no `.no_exist` records), or by loading it online (`missing`: the files the hub
    answered 404 for). Returns the snapshot folder."""
    repository = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repository / "snapshots" / revision
    shutil.copytree(folder, snapshot)
    (repository / "refs").mkdir(exist_ok=True)
    (repository / "refs" / "main").write_text(revision)
    for name in missing:
        (repository / ".no_exist" / revision / name).parent.mkdir(parents=True, exist_ok=True)
        (repository / ".no_exist" / revision / name).touch()
    return snapshot
