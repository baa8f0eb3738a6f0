"""Render the field reference of ``docs/config.md`` from the config attrs classes.

``python -m nptrain.testing.configdocs docs/config.md`` rewrites the generated block; a test fails
when the file and the classes differ."""
from __future__ import annotations

import sys
import typing
from pathlib import Path

import attrs

START = "<!-- config-reference:start (generated from core/nptrain/config; do not edit) -->"
END = "<!-- config-reference:end -->"


def _type(tp) -> str:
    if isinstance(tp, str):
        return tp.replace("typing.", "")
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "").replace("NoneType", "None")


def _default(field) -> str:
    d = field.default
    if d is attrs.NOTHING:
        return "required"
    if isinstance(d, attrs.Factory):  # type: ignore[arg-type]
        value = d.factory()
        if attrs.has(type(value)):
            return "(section)"
        return f"`{value!r}`"
    return f"`{d!r}`"


def _rows(cls: type, prefix: str) -> list[str]:
    rows = []
    hints = typing.get_type_hints(cls)
    for f in attrs.fields(cls):
        tp = hints.get(f.name, f.type)
        inner = [a for a in typing.get_args(tp) if attrs.has(a)]
        target = tp if attrs.has(tp) else (inner[0] if inner else None)
        if target is not None:
            rows += _rows(target, f"{prefix}{f.name}.")
            continue
        rows.append(f"| `{prefix}{f.name}` | {_type(tp)} | {_default(f)} |")
    return rows


def render() -> str:
    from nptrain.config.model_section import ModelConfig
    from nptrain.config.sections import RunConfig

    out = []
    for f in attrs.fields(RunConfig):
        cls = ModelConfig if f.name == "model" else typing.get_type_hints(RunConfig)[f.name]
        out.append(f"### `{f.name}`\n\n| field | type | default |\n|---|---|---|")
        out += _rows(cls, f"{f.name}.")
        out.append("")
    return "\n".join(out)


def splice(text: str) -> str:
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n\n{render()}\n{END}{tail}"


if __name__ == "__main__":
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/config.md")
    path.write_text(splice(path.read_text()))
    print(f"updated {path}")
