"""cattrs structuring with strict scalars and errors that point at the user's line.

cattrs reports nested failures as exception groups annotated with the attribute or index that
failed; :func:`structure` walks that tree back to config paths and raises one
:class:`~nptrain.errors.ConfigError` per problem (several as :class:`~nptrain.errors.ConfigErrors`),
with a did-you-mean where it helps. Ranges (:mod:`nptrain.config.ranges`) are checked by the hook
of ``Annotated`` types, and sections whose ``name`` picks a class (optimizer, scheduler) by
:func:`~nptrain.config.hook_kit.register_tagged`.
"""
from __future__ import annotations

import re
import typing
from typing import Any, Literal, Mapping, TypeVar

import attrs
import cattrs
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError

from nptrain.config.ranges import Range, range_of
from nptrain.config.yaml_io import LocatedConfig
from nptrain.errors import ConfigError, ConfigErrors
from nptrain.hints import suggest
from nptrain.config.hook_kit import ScalarError, describe_value
from nptrain.config.training_section import register_training_hooks
from nptrain.config.mlflow_section import register_mlflow_hooks

T = TypeVar("T")


# how many problems one error report lists at most (the rest are usually consequences or repeats)
MAX_ERRORS = 5


def _strict_int(value: Any, _: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScalarError(f"expected an integer; got {describe_value(value)}")
    return value


def _strict_float(value: Any, _: type) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScalarError(f"expected a number; got {describe_value(value)}")
    return float(value)


def _strict_bool(value: Any, _: type) -> bool:
    if not isinstance(value, bool):
        raise ScalarError(f"expected true or false; got {describe_value(value)}")
    return value


def _strict_str(value: Any, _: type) -> str:
    if not isinstance(value, str):
        raise ScalarError(f"expected a string; got {describe_value(value)}")
    return value


def _is_literal(tp: Any) -> bool:
    return typing.get_origin(tp) is Literal


def _literal_hook(value: Any, tp: Any) -> Any:
    choices = typing.get_args(tp)
    if value in choices and type(value) in {type(c) for c in choices}:
        return value
    msg = f"expected one of {', '.join(map(str, choices))}; got {describe_value(value)}"
    near = suggest(value, [str(c) for c in choices]) if isinstance(value, str) else None
    raise ScalarError(msg + (f" (did you mean {near!r}?)" if near else ""))


def _is_plain_union(tp: Any) -> bool:
    """Unions of plain containers/scalars (no attrs classes), which cattrs cannot disambiguate."""
    if typing.get_origin(tp) is not typing.Union:
        return False
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return len(args) > 1 and not any(attrs.has(a) for a in args)


def _kind(tp: Any) -> Any:
    """The container or scalar class a type stands for (``Annotated[int, ...]`` -> int, ``list[str]`` -> list)."""
    if typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return typing.get_origin(tp) or tp


def _has_range(tp: Any) -> bool:
    return range_of(tp) is not None or any(_has_range(a) for a in typing.get_args(tp) if not isinstance(a, Range))


def _is_ranged(tp: Any) -> bool:
    return typing.get_origin(tp) is typing.Annotated and range_of(tp) is not None


def _ranged_hook(value: Any, tp: Any) -> Any:
    """Structure the underlying type, then hold the value to its :class:`Range`."""
    base = typing.get_args(tp)[0]
    out = CONVERTER.structure(value, base)
    bounds: Range = range_of(tp)  # type: ignore[assignment]
    if bounds.violated_by(out):
        noun = {int: "an integer", float: "a number", list: "a list"}.get(_kind(base), "a value")
        raise ScalarError(f"expected {noun} {bounds.describe()}; got {describe_value(value)}")
    return out


def _plain_union_hook(value: Any, tp: Any) -> Any:
    args = typing.get_args(tp)
    if value is None and type(None) in args:
        return None
    members = [a for a in args if a is not type(None)]
    kinds = [_kind(a) for a in members]
    for member, kind in zip(members, kinds):
        # ``Union[bool, Literal["auto"]]`` / ``Union[int, Literal["auto"]]``: a switch with an automatic setting
        if _is_literal(member) and value in typing.get_args(member) and isinstance(value, str):
            return value
        if kind is bool and isinstance(value, bool):
            return value
        if kind is Any or (isinstance(kind, type) and isinstance(value, kind) and not isinstance(value, bool)):
            # a member with ranges inside (``size: [h, w]`` of positive ints) is checked item by item;
            # plain members pass as they are, as before (``id_mapping`` lists are read by the data code)
            return CONVERTER.structure(value, member) if _has_range(member) else value
    names = {list: "a list", dict: "a mapping", str: "a string", int: "an integer", float: "a number",
             bool: "true or false"}
    words = [", ".join(map(repr, typing.get_args(m))) if _is_literal(m) else names.get(k, str(k))
             for m, k in zip(members, kinds)]
    raise ScalarError(f"expected {' or '.join(words)}; got {describe_value(value)}")


def _mapping_only(conv: cattrs.Converter):
    """Hook factory for attrs classes: a scalar or list where a mapping belongs says which fields it takes
    (cattrs alone reports "'str' object has no attribute 'keys'")."""
    # lazy: cattrs
    from cattrs.gen import make_dict_structure_fn

    def factory(cl: type) -> Any:
        inner = make_dict_structure_fn(cl, conv, _cattrs_forbid_extra_keys=True, _cattrs_detailed_validation=True)
        names = ", ".join(f.name for f in attrs.fields(cl))

        def hook(value: Any, tp: Any) -> Any:
            if not isinstance(value, Mapping):
                raise ScalarError(f"expected a mapping with fields {names}; got {describe_value(value)}")
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
    conv.register_structure_hook_func(_is_ranged, _ranged_hook)
    conv.register_structure_hook_func(_is_plain_union, _plain_union_hook)
    conv.register_structure_hook(Any, lambda v, _: v)

    register_training_hooks(conv)
    register_mlflow_hooks(conv)
    return conv


CONVERTER = make_converter()


def _leaves(exc: BaseException, path: tuple) -> list[tuple[tuple, BaseException]]:
    """Every leaf of a cattrs exception group, each with its config path."""
    if isinstance(exc, (ClassValidationError, IterableValidationError)) and exc.exceptions:
        out = []
        for sub in exc.exceptions:
            step: tuple = ()
            for note in getattr(sub, "__notes__", []):
                if hasattr(note, "name"):
                    step = (note.name,)
                elif hasattr(note, "index"):
                    step = (note.index,)
            out += _leaves(sub, path + step)
        return out
    return [(path + getattr(exc, "sub", ()), exc)]


def structure_errors(data: Any, cls: type[T], *, cfg: LocatedConfig, base: tuple = ()) -> tuple[Any, list[ConfigError]]:
    """``(object, [])`` or ``(None, errors)``: every problem cattrs found, each located."""
    if data is None:
        data = {}
    if attrs.has(cls) and not isinstance(data, dict):
        names = ", ".join(f.name for f in attrs.fields(cls))
        return None, [cfg.error(base, f"expected a mapping with fields {names}; got {describe_value(data)}")]
    try:
        return CONVERTER.structure(data, cls), []
    except Exception as exc:  # cattrs wraps everything in exception groups
        errors: list[ConfigError] = []
        for path, leaf in _leaves(exc, base):
            errors += _explain(path, leaf, cfg)
        return None, errors


def raise_errors(errors: list[ConfigError]) -> None:
    """Nothing, one :class:`ConfigError`, or :class:`ConfigErrors` listing up to ``MAX_ERRORS`` in file order."""
    if not errors:
        return
    unique = list({str(e): e for e in errors}.values())
    if len(unique) == 1:
        raise unique[0]
    raise ConfigErrors(sort_errors(unique)[:MAX_ERRORS], more=max(0, len(unique) - MAX_ERRORS))


def sort_errors(errors: list[ConfigError]) -> list[ConfigError]:
    """File order: by file (as given), line, column; unlocated (command line) ones last, stable."""
    files = {f: i for i, f in enumerate(dict.fromkeys(e.file or "" for e in errors))}
    return sorted(errors, key=lambda e: (e.line is None, files[e.file or ""], e.line or 0, e.col or 0))


def structure(data: Any, cls: type[T], *, cfg: LocatedConfig, base: tuple = ()) -> T:
    """Structure ``data`` (found at ``base`` in ``cfg``) into ``cls``; located errors on failure."""
    obj, errors = structure_errors(data, cls, cfg=cfg, base=base)
    raise_errors(errors)
    return obj


def _fields_of(cfg_path_cls: Any) -> list[str]:
    return [f.name for f in attrs.fields(cfg_path_cls)] if attrs.has(cfg_path_cls) else []


def _explain(path: tuple, leaf: BaseException, cfg: LocatedConfig) -> list[ConfigError]:
    if isinstance(leaf, ForbiddenExtraKeysError):
        allowed = _fields_of(leaf.cl)
        out = []
        for extra in sorted(leaf.extra_fields):
            near = suggest(extra, allowed)
            hint = f" (did you mean {near!r}?)" if near else f"; known fields: {', '.join(allowed)}"
            out.append(cfg.error(path + (extra,), f"unknown field {extra!r}{hint}", value=False))
        return out
    if isinstance(leaf, KeyError) or (isinstance(leaf, Exception) and "missing" in str(leaf).lower() and "required" in str(leaf).lower()):
        name = str(leaf).strip("'\"")
        return [cfg.error(path, f"required field {name!r} is missing", value=False)]
    if isinstance(leaf, ScalarError):
        return [cfg.error(path, str(leaf))]
    if isinstance(leaf, (TypeError, ValueError)) and "argument" in str(leaf):
        return [cfg.error(path, f"invalid value: {leaf}")]
    value = _lookup(cfg.data, path)
    # attrs validators run in __init__, after cattrs has left the field: their message
    # ("'name' must be <= 1.0: 1.5") is the only place that still names the field
    field = re.match(r"'(\w+)' must be", str(leaf))
    if field and isinstance(value, dict) and field.group(1) in value:
        path, value = path + (field.group(1),), value[field.group(1)]
        return [cfg.error(path, f"invalid value {describe_value(value)}: {str(leaf).rsplit(':', 1)[0].split(' ', 1)[1]}")]
    return [cfg.error(path, f"invalid value {describe_value(value)}: {leaf}")]


def _lookup(data: Any, path: tuple) -> Any:
    for p in path:
        try:
            data = data[p]
        except (KeyError, IndexError, TypeError):
            return None
    return data
