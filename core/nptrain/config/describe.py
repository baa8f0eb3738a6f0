"""Types and ranges of config fields in words, for ``docs/config.md`` and ``nptrain list``."""
from __future__ import annotations

import typing
from typing import Any, Optional

import attrs

from nptrain.config.ranges import range_of


def type_text(tp: Any) -> str:
    """A readable type: ``Optional[int]``, ``list[float]`` (``Annotated`` ranges left to :func:`range_text`)."""
    if isinstance(tp, str):
        return tp.replace("typing.", "")
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        return type_text(args[0])
    if origin is typing.Union:
        members = [type_text(a) for a in args if a is not type(None)]
        if type(None) in args and len(members) == 1:
            return f"Optional[{members[0]}]"
        return f"Union[{', '.join(members + (['None'] if type(None) in args else []))}]"
    if origin is typing.Literal:
        return f"Literal[{', '.join(map(repr, args))}]"
    if origin is not None:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(type_text(a) for a in args)}]"
    if tp is Any:
        return "Any"
    return tp.__name__ if isinstance(tp, type) else str(tp).replace("typing.", "")


def range_text(tp: Any, field: Optional[attrs.Attribute] = None) -> str:
    """The enforced range of a field, in words ("" when any value of the type goes)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    extra = _validator_bounds(field.validator) if field is not None else []
    if origin is typing.Union:
        texts = [text for text in (range_text(a) for a in args if a is not type(None)) if text]
        return ", ".join(([" or ".join(texts)] if texts else []) + extra)
    parts = []
    bounds = range_of(tp)
    if bounds is not None:
        parts.append(bounds.describe())
    base = args[0] if origin is typing.Annotated else tp
    if typing.get_origin(base) is list:
        inner = range_text(typing.get_args(base)[0])
        if inner:
            parts.append(f"each {inner}")
    return ", ".join(parts + extra)


def _validator_bounds(validator: Any) -> list[str]:
    """attrs ``ge``/``gt``/``le``/``lt`` validators (possibly combined) in words."""
    if validator is None:
        return []
    inner = getattr(validator, "_validators", None) or (validator if isinstance(validator, (list, tuple)) else None)
    if inner is not None:
        return [text for v in inner for text in _validator_bounds(v)]
    if getattr(validator, "range_text", None):  # a custom validator that says what it admits
        return [validator.range_text]
    op, bound = getattr(validator, "compare_op", None), getattr(validator, "bound", None)
    return [f"{op} {bound}"] if op and bound is not None else []
