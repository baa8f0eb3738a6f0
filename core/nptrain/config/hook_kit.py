"""What a section module needs to add cattrs hooks of its own without importing
:mod:`nptrain.config.structure` (which imports the section modules to build its converter): the
error a hook raises for a wrong value, and sections whose ``name`` picks their class."""
from __future__ import annotations

from typing import Any, Mapping

import cattrs
from cattrs.gen import make_dict_unstructure_fn

from nptrain.hints import suggest


class ScalarError(TypeError):
    """A value that is wrong in itself; ``sub`` is a path below the failing field where the
    problem is (a tagged section's ``name``)."""

    def __init__(self, message: str, sub: tuple = ()) -> None:
        super().__init__(message)
        self.sub = sub


def describe_value(value: Any) -> str:
    return "nothing (null)" if value is None else repr(value)


def register_tagged(conv: cattrs.Converter, union: Any, table: dict[str, type], what: str) -> None:
    """Structure ``union`` (attrs classes with a ``name`` field) by the mapping's ``name``: the class
    ``table[name]`` takes the whole mapping, so its fields and ranges are checked like any section's."""

    def hook(value: Any, _: Any) -> Any:
        if not isinstance(value, Mapping):
            raise ScalarError(f"expected a mapping with a name ({', '.join(table)}); got {describe_value(value)}")
        name = value.get("name")
        cls = table.get(name.lower()) if isinstance(name, str) else None
        if cls is None:
            near = suggest(name, list(table)) if isinstance(name, str) else None
            hint = f" (did you mean {near!r}?)" if near else f"; choose from {', '.join(table)}"
            raise ScalarError(f"unknown {what} {name!r}{hint}" if name is not None else
                              f"{what} needs a name; choose from {', '.join(table)}", sub=("name",))
        return conv.structure({**value, "name": name.lower()}, cls)

    conv.register_structure_hook_func(lambda tp: tp == union, hook)
    for cls in table.values():  # written back (config show, a run's config.yaml) with the name first
        conv.register_unstructure_hook(cls, _name_first(make_dict_unstructure_fn(cls, conv)))


def _name_first(inner: Any) -> Any:
    def unstructure(obj: Any) -> dict:
        out = inner(obj)
        return {"name": out.pop("name"), **out}

    return unstructure
