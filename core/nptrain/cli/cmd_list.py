"""``nptrain list [KIND]``: providers with their params and defaults."""
from __future__ import annotations

import argparse
import json
import typing

import attrs

from nptrain.records import RECORD_CLASSES
from nptrain.config.describe import range_text, type_text
from nptrain.plugin_manager import default_plugins

KINDS = {cls.TITLE: cls.KIND for cls in RECORD_CLASSES}  # plural shown here -> registry kind
# section headings (full models print as "models:", their `nptrain list` choice)
TITLE_OF = {cls.KIND: cls.TITLE for cls in RECORD_CLASSES}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", nargs="?", choices=list(KINDS), help="which providers (default: all); "
                        "'models' lists full models and presets")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _fields(cls) -> list[dict]:
    if cls is None or not attrs.has(cls):
        return []

    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except Exception:  # noqa: BLE001 - a plugin's unresolvable annotation only loses the range column
        hints = {}
    out = []
    for f in attrs.fields(cls):
        default = f.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = default.factory() if not default.takes_self else "<derived>"
        if attrs.has(type(default)):
            default = attrs.asdict(default)
        elif isinstance(default, list) and default and attrs.has(type(default[0])):
            default = [attrs.asdict(d) for d in default]
        tp = hints.get(f.name)
        out.append({"name": f.name, "type": type_text(tp) if tp is not None else type_name(f.type), "default": default,
                    "range": range_text(tp, f) if tp is not None else None})
    return out


def type_name(tp) -> str:
    if isinstance(tp, str):
        return tp
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def describe(kind: str, prov) -> dict:
    rec = prov.record
    row = {"kind": kind, "name": rec.name, "distribution": prov.dist, "description": rec.description}
    if kind == "preset":
        row.update(task=rec.task, architecture=dict(rec.architecture), input_size=rec.default_input_size)
    elif kind == "converter":
        row.update(presets=list(rec.presets))
    elif kind == "task":
        row.update(metrics=list(rec.metric_names), default_loss=rec.default_loss)
    else:
        row.update(tasks=list(getattr(rec, "tasks", ())), params=_fields(rec.params),
                   stage_params=_fields(getattr(rec, "stage_params", None)))
    return row


def run(args: argparse.Namespace) -> int:
    reg = default_plugins().registry
    titles = [args.kind] if args.kind else list(KINDS)
    kinds = []
    for title in titles:
        kinds.append(KINDS[title])
        if title == "models":
            kinds.append("preset")
    rows = [describe(kind, p) for kind in dict.fromkeys(kinds) for p in reg.all(kind)]
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    current = None
    for row in rows:
        if row["kind"] != current:
            current = row["kind"]
            print(f"\n{TITLE_OF[current]}:")
        extra = ""
        if row["kind"] == "preset":
            extra = f" [{row['task']}, input {row['input_size']}]"
        elif row["kind"] == "converter":
            extra = f" -> {', '.join(row['presets'])}"
        elif row["kind"] == "task":
            extra = f" [metrics {', '.join(row['metrics'])}; default loss {row['default_loss']}]"
        elif row.get("tasks"):
            extra = f" [{', '.join(row['tasks'])}]"
        print(f"  {row['name']}{extra}  ({row['distribution']})  {row['description']}")
        for label in ("params", "stage_params"):
            for f in row.get(label) or []:
                bounds = f"  ({f['range']})" if f.get("range") else ""
                print(f"      {label[:-1] if label == 'params' else 'stage'}.{f['name']}: {f['type']} = {f['default']!r}{bounds}")
    return 0
