"""Render the field reference of ``docs/config.md`` from the config attrs classes.

Every section's fields with type, default and range (the ``Range`` in the field's type, or its
attrs bound validators: the same objects the loader enforces), then the classes a ``name`` picks:
optimizers, schedulers and the built-in transforms.

``python -m nptrain.testing.configdocs docs/config.md`` rewrites the generated block; a test fails
when the file and the classes differ."""
from __future__ import annotations

import sys
import typing
from pathlib import Path
from typing import Any

import attrs

from nptrain.config.describe import range_text as _range
from nptrain.config.describe import type_text as _type
from nptrain.config.model_section import ModelConfig
from nptrain.config.training_section import OPTIMIZERS, SCHEDULERS

START = "<!-- config-reference:start (generated from core/nptrain/config; do not edit) -->"
END = "<!-- config-reference:end -->"
HEADER = "| field | type | default | range |\n|---|---|---|---|"


def _default(field: attrs.Attribute) -> str:
    d = field.default
    if d is attrs.NOTHING:
        return "required"
    if isinstance(d, attrs.Factory):  # type: ignore[arg-type]
        value = d.factory()
        if attrs.has(type(value)) and not hasattr(value, "name"):
            return "(section)"
        if attrs.has(type(value)):
            return f"`{value.name}`"  # a class picked by name
        return f"`{value!r}`"
    return f"`{d!r}`"


def _attrs_members(tp: Any) -> list[type]:
    """The attrs classes of a ``Union``/``Optional`` (not ``Annotated`` metadata, which may be attrs instances)."""
    if typing.get_origin(tp) is not typing.Union:
        return []
    return [a for a in typing.get_args(tp) if isinstance(a, type) and attrs.has(a)]


def _rows(cls: type, prefix: str, *, skip: tuple = ()) -> list[str]:
    rows = []
    hints = typing.get_type_hints(cls, include_extras=True)
    for f in attrs.fields(cls):
        if f.name in skip:
            continue
        tp = hints.get(f.name, f.type)
        members = _attrs_members(tp)
        target = tp if isinstance(tp, type) and attrs.has(tp) else (members[0] if len(members) == 1 else None)
        if target is not None:
            others = [a for a in typing.get_args(tp) if a is not type(None) and a is not target]
            if others:  # a scalar or the record (training.distillation.teacher: a folder or {config, checkpoint})
                rows.append(f"| `{prefix}{f.name}` | {' or '.join(_type(a) for a in others)}, or the mapping below "
                            f"| {_default(f)} | |")
            rows += _rows(target, f"{prefix}{f.name}.")
            continue
        items = typing.get_args(tp) if typing.get_origin(tp) is list else ()
        if items and isinstance(items[0], type) and attrs.has(items[0]):  # a list of records: their fields
            rows += _rows(items[0], f"{prefix}{f.name}[].")
            continue
        if len(members) > 1:  # picked by name: listed below with each class's fields
            names = ", ".join(f"`{attrs.fields_dict(m)['name'].default}`" for m in members)
            rows.append(f"| `{prefix}{f.name}` | mapping picked by `name`: {names} | {_default(f)} | see below |")
            continue
        rows.append(f"| `{prefix}{f.name}` | {_type(tp)} | {_default(f)} | {_range(tp, f)} |")
    return rows


def _named_tables(title: str, prefix: str, table: dict[str, type]) -> list[str]:
    out = [f"#### {title}\n"]
    for name, cls in table.items():
        out.append(f"`{prefix}.name: {name}`\n\n{HEADER}")
        out += _rows(cls, f"{prefix}.", skip=("name",))
        out.append("")
    return out


def _transform_tables() -> list[str]:
    # lazy: layer (README map: testing/ may not import builtin)
    from nptrain.builtin.plugin import nptrain_transforms

    out = ["#### Built-in transforms (`augmentation.train[]`, `augmentation.inference[]`)\n",
           "Each entry is `{name: ..., <fields>}`; plugins add more (`nptrain list transforms`).\n"]
    for record in nptrain_transforms():
        where = ", ".join(record.tasks) + (", `augmentation.train` only" if record.batch else "")
        out.append(f"`name: {record.name}`: {record.description} ({where})\n\n{HEADER}")
        out += _rows(record.params, "")
        out.append("")
    return out


def render() -> str:
    # lazy: ruamel
    from nptrain.config.sections import RunConfig
    out = []
    hints = typing.get_type_hints(RunConfig)
    for f in attrs.fields(RunConfig):
        cls = ModelConfig if f.name == "model" else hints[f.name]
        out.append(f"### `{f.name}`\n\n{HEADER}")
        if f.name == "augmentation":
            out += [f"| `augmentation.{split}` | list of transforms (below) | `[]` | |" for split in ("train", "inference")]
            out.append("")
            out += _transform_tables()
            continue
        out += _rows(cls, f"{f.name}.")
        out.append("")
        if f.name == "training":
            out += _named_tables("`training.optimizer`, by `name`", "training.optimizer", OPTIMIZERS)
            out += _named_tables("`training.scheduler`, by `name`", "training.scheduler", SCHEDULERS)
    return "\n".join(out)


def splice(text: str) -> str:
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n\n{render()}\n{END}{tail}"


if __name__ == "__main__":
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/config.md")
    path.write_text(splice(path.read_text()))
    print(f"updated {path}")
