"""cattrs structuring with strict scalars and errors that point at the user's line.

cattrs reports nested failures as exception groups annotated with the attribute or index that
failed; :func:`structure` walks that tree back to a config path and raises one
:class:`~nptrain.errors.ConfigError` for the first problem, with a did-you-mean where it helps.
"""
from __future__ import annotations

import difflib
import re
import typing
from typing import Any, Literal, Mapping, Sequence, TypeVar

import attrs
import cattrs
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError

from nptrain.config.yaml_io import LocatedConfig
from nptrain.errors import ConfigError

T = TypeVar("T")


class _ScalarError(TypeError):
    pass


def _describe(value: Any) -> str:
    return "nothing (null)" if value is None else repr(value)


def _strict_int(value: Any, _: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _ScalarError(f"expected an integer; got {_describe(value)}")
    return value


def _strict_float(value: Any, _: type) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _ScalarError(f"expected a number; got {_describe(value)}")
    return float(value)


def _strict_bool(value: Any, _: type) -> bool:
    if not isinstance(value, bool):
        raise _ScalarError(f"expected true or false; got {_describe(value)}")
    return value


def _strict_str(value: Any, _: type) -> str:
    if not isinstance(value, str):
        raise _ScalarError(f"expected a string; got {_describe(value)}")
    return value


def _is_literal(tp: Any) -> bool:
    return typing.get_origin(tp) is Literal


def _literal_hook(value: Any, tp: Any) -> Any:
    choices = typing.get_args(tp)
    if value in choices and type(value) in {type(c) for c in choices}:
        return value
    msg = f"expected one of {', '.join(map(str, choices))}; got {_describe(value)}"
    near = suggest(value, [str(c) for c in choices]) if isinstance(value, str) else None
    raise _ScalarError(msg + (f" (did you mean {near!r}?)" if near else ""))


def _is_plain_union(tp: Any) -> bool:
    """Unions of plain containers/scalars (no attrs classes), which cattrs cannot disambiguate."""
    if typing.get_origin(tp) is not typing.Union:
        return False
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return len(args) > 1 and not any(attrs.has(a) for a in args)


def _plain_union_hook(value: Any, tp: Any) -> Any:
    args = typing.get_args(tp)
    if value is None and type(None) in args:
        return None
    kinds = [typing.get_origin(a) or a for a in args if a is not type(None)]
    for kind in kinds:
        if kind is Any or (isinstance(kind, type) and isinstance(value, kind) and not isinstance(value, bool)):
            return value
    names = {list: "a list", dict: "a mapping", str: "a string", int: "an integer", float: "a number"}
    raise _ScalarError(f"expected {' or '.join(names.get(k, str(k)) for k in kinds)}; got {_describe(value)}")


def _mapping_only(conv: cattrs.Converter):
    """Hook factory for attrs classes: a scalar or list where a mapping belongs says which fields it takes
    (cattrs alone reports "'str' object has no attribute 'keys'")."""
    from cattrs.gen import make_dict_structure_fn

    def factory(cl: type) -> Any:
        inner = make_dict_structure_fn(cl, conv, _cattrs_forbid_extra_keys=True, _cattrs_detailed_validation=True)
        names = ", ".join(f.name for f in attrs.fields(cl))

        def hook(value: Any, tp: Any) -> Any:
            if not isinstance(value, Mapping):
                raise _ScalarError(f"expected a mapping with fields {names}; got {_describe(value)}")
            return inner(value, tp)

        return hook

    return factory


def make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    conv.register_structure_hook_factory(attrs.has, _mapping_only(conv))
    conv.register_structure_hook(int, _strict_int)
    conv.register_structure_hook(float, _strict_float)
    conv.register_structure_hook(bool, _strict_bool)
    conv.register_structure_hook(str, _strict_str)
    conv.register_structure_hook_func(_is_literal, _literal_hook)
    conv.register_structure_hook_func(_is_plain_union, _plain_union_hook)
    conv.register_structure_hook(Any, lambda v, _: v)
    return conv


CONVERTER = make_converter()


def suggest(word: str, choices: Sequence[str]) -> str | None:
    hits = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return hits[0] if hits else None


def _first_leaf(exc: BaseException, path: tuple) -> tuple[tuple, BaseException]:
    """Descend a cattrs exception group to its first leaf, collecting the config path."""
    if isinstance(exc, (ClassValidationError, IterableValidationError)) and exc.exceptions:
        sub = exc.exceptions[0]
        step: tuple = ()
        for note in getattr(sub, "__notes__", []):
            if hasattr(note, "name"):
                step = (note.name,)
            elif hasattr(note, "index"):
                step = (note.index,)
        return _first_leaf(sub, path + step)
    return path, exc


def structure(data: Any, cls: type[T], *, cfg: LocatedConfig, base: tuple = ()) -> T:
    """Structure ``data`` (found at ``base`` in ``cfg``) into ``cls``; one located error on failure."""
    if data is None:
        data = {}
    if attrs.has(cls) and not isinstance(data, dict):
        raise cfg.error(base, f"expected a mapping of {cls.__name__} fields; got {_describe(data)}")
    try:
        return CONVERTER.structure(data, cls)
    except Exception as exc:  # cattrs wraps everything in exception groups
        path, leaf = _first_leaf(exc, base)
        raise _explain(path, leaf, cfg) from None


def _fields_of(cfg_path_cls: Any) -> list[str]:
    return [f.name for f in attrs.fields(cfg_path_cls)] if attrs.has(cfg_path_cls) else []


def _explain(path: tuple, leaf: BaseException, cfg: LocatedConfig) -> ConfigError:
    if isinstance(leaf, ForbiddenExtraKeysError):
        allowed = _fields_of(leaf.cl)
        extra = sorted(leaf.extra_fields)[0]
        near = suggest(extra, allowed)
        hint = f" (did you mean {near!r}?)" if near else f"; known fields: {', '.join(allowed)}"
        return cfg.error(path + (extra,), f"unknown field {extra!r}{hint}", value=False)
    if isinstance(leaf, KeyError) or (isinstance(leaf, Exception) and "missing" in str(leaf).lower() and "required" in str(leaf).lower()):
        name = str(leaf).strip("'\"")
        return cfg.error(path, f"required field {name!r} is missing", value=False)
    if isinstance(leaf, _ScalarError):
        return cfg.error(path, str(leaf))
    if isinstance(leaf, (TypeError, ValueError)) and "argument" in str(leaf):
        return cfg.error(path, f"invalid value: {leaf}")
    value = _lookup(cfg.data, path)
    # attrs validators run in __init__, after cattrs has left the field: their message
    # ("'name' must be <= 1.0: 1.5") is the only place that still names the field
    field = re.match(r"'(\w+)' must be", str(leaf))
    if field and isinstance(value, dict) and field.group(1) in value:
        path, value = path + (field.group(1),), value[field.group(1)]
        return cfg.error(path, f"invalid value {_describe(value)}: {str(leaf).rsplit(':', 1)[0].split(' ', 1)[1]}")
    return cfg.error(path, f"invalid value {_describe(value)}: {leaf}")


def _lookup(data: Any, path: tuple) -> Any:
    for p in path:
        try:
            data = data[p]
        except (KeyError, IndexError, TypeError):
            return None
    return data
