"""Validation metrics of a run's artifacts, cached in ``RUN_DIR/artifact-metrics.json`` keyed by the
artifact's path and content hash (a re-quantized file is never shown with the old numbers)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Optional
from nptrain.training_io import atomic_write_bytes

CACHE_NAME = "artifact-metrics.json"
MAX_CACHE_BYTES = 4 << 20  # a run's own small JSON; anything larger is not ours: ignore it


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    # OpenVINO IR keeps its weights beside the graph: both make the artifact
    weights = path.with_suffix(".bin")
    if path.suffix == ".xml" and weights.is_file():
        with open(weights, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _key(run_dir: Path, artifact: Path) -> str:
    try:
        return artifact.resolve().relative_to(run_dir.resolve()).as_posix()
    except ValueError:
        return str(artifact.resolve())


def _read(run_dir: Path) -> dict[str, Any]:
    path = run_dir / CACHE_NAME
    if not path.is_file() or path.stat().st_size > MAX_CACHE_BYTES:
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def cached_metrics(run_dir: Path, artifact: Path) -> Optional[dict[str, Any]]:
    """The stored entry for ``artifact`` if its content has not changed since, else None."""
    entry = _read(run_dir).get(_key(run_dir, artifact))
    if not isinstance(entry, dict) or entry.get("sha256") != file_digest(artifact):
        return None
    return entry


def store_metrics(run_dir: Path, artifact: Path, entry: dict[str, Any]) -> None:
    data = _read(run_dir)
    data[_key(run_dir, artifact)] = {"sha256": file_digest(artifact), **entry}
    atomic_write_bytes(run_dir / CACHE_NAME, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())
