"""Reading the text files of a run directory (JSON, results.csv), which may come from someone else:
bounded in size, invalid JSON and wrong shapes are one-line errors naming the file (never an internal error)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nptrain.errors import UserError

MAX_JSON_BYTES = 16 << 20  # a run's JSON and CSV files are kilobytes; anything this large is not one


def read_run_text(run_dir: Path, name: str) -> str | None:
    """The UTF-8 text of ``run_dir/name`` (at most MAX_JSON_BYTES), or None when the file is absent."""
    path = run_dir / name
    if not path.is_file():
        return None
    if path.stat().st_size > MAX_JSON_BYTES:
        raise UserError(f"{path}: larger than {MAX_JSON_BYTES >> 20} MiB; not a run file")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not a UTF-8 text file ({exc})") from None


def read_run_json(run_dir: Path, name: str) -> Any:
    """The parsed ``run_dir/name``, or None when the file is absent."""
    text = read_run_text(run_dir, name)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UserError(f"{run_dir / name}: not valid JSON ({exc})") from None


def read_summary(run_dir: Path) -> dict:
    """``summary.json`` as a mapping ({} when absent)."""
    summary = read_run_json(run_dir, "summary.json")
    if summary is None:
        return {}
    if not isinstance(summary, dict):
        raise UserError(f"{run_dir / 'summary.json'}: expected a JSON object; got {type(summary).__name__}")
    return summary


def read_classes(run_dir: Path) -> list[str]:
    """``classes.json`` (else ``summary.json``'s ``classes``): a non-empty list of class names."""
    classes = read_run_json(run_dir, "classes.json")
    where = run_dir / "classes.json"
    if classes is None:
        classes = read_summary(run_dir).get("classes")
        where = run_dir / "summary.json"
    if classes is None:
        raise UserError(f"{run_dir}: no classes.json (nor classes in summary.json); is this an nptrain run directory?")
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise UserError(f"{where}: expected a non-empty list of class names; got {str(classes)[:80]}")
    return classes
