"""What a converter's key rule may return besides a plain key: value transforms and fused tensors.

A key rule ``target_key(source_key)`` returns our key (``str``), ``None`` (no counterpart: an error),
or one of:

* ``Map(target, *transforms)``: the value changes on the way, e.g. a 1×1 conv weight becoming a
  Linear weight: ``Map("head.classifier.weight", Flatten(1))``. Transforms run in order:
  :class:`Reshape`, :class:`Flatten`, :class:`Transpose`, :class:`Permute`, :class:`Cast`.
* ``Split(targets, dim=0, sizes=None)``: one fused source tensor (``qkv.weight``) filling several of
  our keys, cut along ``dim`` into equal parts or ``sizes``.
* ``Concat(target, index, count, dim=0)``: this source key is part ``index`` of ``count`` that are
  concatenated along ``dim`` into one of our keys (separate ``q``/``k``/``v`` into a fused ``qkv``).

:func:`invert` runs a rule backwards: from our state dict and the original layout (names, dtypes,
shapes, e.g. a fixture's ``keys.tsv``) it builds the original-layout state dict, so a converter test
can check ``convert(invert(ours)) == ours`` without a real checkpoint.
"""
from __future__ import annotations

from typing import Callable, Iterable, Mapping, Optional, Union

import attrs
import torch

from nptrain.errors import ConversionError


def _dims(values: tuple) -> tuple[int, ...]:
    """``(2, 3)`` or ``((2, 3),)`` as ``(2, 3)``: both spellings are accepted."""
    return tuple(values[0]) if len(values) == 1 and isinstance(values[0], (tuple, list)) else tuple(values)


@attrs.frozen(init=False)
class Reshape:
    """Reshape to ``shape`` (``Reshape(10, -1)``; ``-1`` allowed); inverse: back to the source shape."""

    shape: tuple[int, ...]

    def __init__(self, *shape: int) -> None:
        self.__attrs_init__(_dims(shape))  # type: ignore[attr-defined]

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        return t.reshape(self.shape)

    def undo(self, t: torch.Tensor, before: torch.Tensor) -> torch.Tensor:
        return t.reshape(before.shape)


@attrs.frozen
class Flatten:
    """``torch.flatten(t, start_dim, end_dim)``, e.g. ``Flatten(1)`` turns a ``(O, I, 1, 1)`` conv weight
    into a ``(O, I)`` Linear weight; inverse: back to the source shape."""

    start_dim: int = 1
    end_dim: int = -1

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        return torch.flatten(t, self.start_dim, self.end_dim)

    def undo(self, t: torch.Tensor, before: torch.Tensor) -> torch.Tensor:
        return t.reshape(before.shape)


@attrs.frozen
class Transpose:
    """Swap two axes (its own inverse)."""

    dim0: int = 0
    dim1: int = 1

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        return t.transpose(self.dim0, self.dim1).contiguous()

    def undo(self, t: torch.Tensor, before: torch.Tensor) -> torch.Tensor:
        return self(t)


@attrs.frozen(init=False)
class Permute:
    """Reorder axes, ``Permute(0, 2, 3, 1)``; inverse: the inverse permutation."""

    dims: tuple[int, ...]

    def __init__(self, *dims: int) -> None:
        self.__attrs_init__(_dims(dims))  # type: ignore[attr-defined]

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        return t.permute(self.dims).contiguous()

    def undo(self, t: torch.Tensor, before: torch.Tensor) -> torch.Tensor:
        inverse = [0] * len(self.dims)
        for i, d in enumerate(self.dims):
            inverse[d] = i
        return t.permute(inverse).contiguous()


@attrs.frozen
class Cast:
    """Change dtype (``Cast(torch.float32)`` for a half-precision file); inverse: the source dtype."""

    dtype: torch.dtype

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        return t.to(self.dtype)

    def undo(self, t: torch.Tensor, before: torch.Tensor) -> torch.Tensor:
        return t.to(before.dtype)


Transform = Union[Reshape, Flatten, Transpose, Permute, Cast]


@attrs.frozen(init=False)
class Map:
    """One source key to one of our keys, through ``transforms`` applied in order."""

    target: str
    transforms: tuple[Transform, ...]

    def __init__(self, target: str, *transforms: Transform) -> None:
        self.__attrs_init__(target, tuple(transforms))  # type: ignore[attr-defined]

    def apply(self, t: torch.Tensor) -> torch.Tensor:
        for transform in self.transforms:
            t = transform(t)
        return t

    def undo(self, t: torch.Tensor, source_like: torch.Tensor) -> torch.Tensor:
        # the shape and dtype before each step, from a run on an empty tensor of the source's layout
        stages = [source_like]
        for transform in self.transforms:
            stages.append(transform(stages[-1]))
        for transform, before in zip(reversed(self.transforms), reversed(stages[:-1])):
            t = transform.undo(t, before)
        return t


@attrs.frozen
class Split:
    """One fused source tensor cut along ``dim`` into ``targets`` (equal parts, or ``sizes``)."""

    targets: tuple[str, ...] = attrs.field(converter=tuple)
    dim: int = 0
    sizes: Optional[tuple[int, ...]] = attrs.field(default=None, converter=attrs.converters.optional(tuple))

    def parts(self, t: torch.Tensor, key: str) -> list[torch.Tensor]:
        if self.sizes is None:
            if t.shape[self.dim] % len(self.targets):
                raise ConversionError(f"{key}: axis {self.dim} of shape {tuple(t.shape)} does not split into "
                                      f"{len(self.targets)} equal parts ({', '.join(self.targets)})")
            return [p.contiguous() for p in torch.chunk(t, len(self.targets), self.dim)]
        if sum(self.sizes) != t.shape[self.dim] or len(self.sizes) != len(self.targets):
            raise ConversionError(f"{key}: sizes {self.sizes} do not cut axis {self.dim} of shape {tuple(t.shape)} "
                                  f"into {len(self.targets)} parts")
        return [p.contiguous() for p in torch.split(t, list(self.sizes), self.dim)]


@attrs.frozen
class Concat:
    """This source key is part ``index`` (0-based) of ``count`` concatenated along ``dim`` into ``target``."""

    target: str
    index: int
    count: int
    dim: int = 0


Rule = Union[str, None, Map, Split, Concat]
KeyRule = Callable[[str], Rule]
Layout = Union[Mapping[str, tuple[torch.dtype, tuple[int, ...]]], Iterable[tuple[str, torch.dtype, tuple[int, ...]]]]


def expand(key: str, value: torch.Tensor, rule: Rule) -> list[tuple[str, torch.Tensor]]:
    """``(our key, tensor)`` pairs for a str, Map or Split rule (Concat parts are joined by the caller)."""
    if isinstance(rule, str):
        return [(rule, value)]
    if isinstance(rule, Map):
        try:
            return [(rule.target, rule.apply(value))]
        except RuntimeError as exc:
            raise ConversionError(f"{key} {tuple(value.shape)} → {rule.target}: "
                                  f"{str(exc).splitlines()[0]}") from None
    if isinstance(rule, Split):
        return list(zip(rule.targets, rule.parts(value, key)))
    raise TypeError(f"key rule returned {type(rule).__name__} for {key!r}; expected str, None, Map, Split or Concat")


def join_concats(parts: Mapping[str, dict[int, tuple[str, torch.Tensor]]],
                 rules: Mapping[str, Concat]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Concatenate the collected parts of every Concat target; returns the tensors and a problem per incomplete one."""
    out, problems = {}, []
    for target, got in parts.items():
        rule = rules[target]
        missing = [i for i in range(rule.count) if i not in got]
        if missing:
            have = ", ".join(f"{i}: {got[i][0]}" for i in sorted(got))
            problems.append(f"{target} needs parts {missing} of {rule.count} (has {have})")
            continue
        out[target] = torch.cat([got[i][1] for i in range(rule.count)], rule.dim)
    return out, problems


def _rows(layout: Layout) -> list[tuple[str, torch.dtype, tuple[int, ...]]]:
    if isinstance(layout, Mapping):
        return [(name, dtype, tuple(shape)) for name, (dtype, shape) in layout.items()]
    return [(name, dtype, tuple(shape)) for name, dtype, shape in layout]


def invert(target_key: KeyRule, ours: Mapping[str, torch.Tensor], layout: Layout) -> dict[str, torch.Tensor]:
    """The original-layout state dict that ``target_key`` converts into ``ours``.

    ``layout``: the original ``(name, dtype, shape)`` rows in order (``nptrain.testing.parity.read_keys``
    of a fixture, or ``{name: (dtype, shape)}``). Source keys whose rule is None, or whose target is not in
    ``ours`` (e.g. a head dropped with ``keep_head=False``), are left out."""
    rows = _rows(layout)
    out: dict[str, torch.Tensor] = {}
    concat_rows: dict[str, list[tuple[int, str, torch.dtype, tuple[int, ...]]]] = {}
    for name, dtype, shape in rows:
        rule = target_key(name)
        like = torch.empty(shape, dtype=dtype, device="meta")
        if rule is None:
            continue
        if isinstance(rule, str):
            if rule in ours:
                out[name] = ours[rule].to(dtype).reshape(shape).clone()
        elif isinstance(rule, Map):
            if rule.target in ours:
                out[name] = rule.undo(ours[rule.target], like).clone()
        elif isinstance(rule, Split):
            if all(t in ours for t in rule.targets):
                out[name] = torch.cat([ours[t] for t in rule.targets], rule.dim).to(dtype)
        elif isinstance(rule, Concat):
            concat_rows.setdefault(rule.target, []).append((rule.index, name, dtype, shape))
    for target, parts in concat_rows.items():
        if target not in ours:
            continue
        parts.sort()
        dim = target_key(parts[0][1]).dim  # type: ignore[union-attr]
        pieces = torch.split(ours[target], [shape[dim] for _, _, _, shape in parts], dim)
        for (_, name, dtype, _), piece in zip(parts, pieces):
            out[name] = piece.to(dtype).contiguous()
    order = {name: i for i, (name, _, _) in enumerate(rows)}
    return dict(sorted(out.items(), key=lambda kv: order[kv[0]]))


__all__ = ["Cast", "Concat", "Flatten", "KeyRule", "Map", "Permute", "Reshape", "Rule", "Split", "Transpose",
           "expand", "invert", "join_concats"]
