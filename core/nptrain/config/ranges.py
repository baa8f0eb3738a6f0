"""Ranges as part of a field's type: ``Annotated[int, Range(ge=1)]``.

The structuring hook in :mod:`nptrain.config.structure` checks a value against its ``Range`` right
where cattrs structures the field, so every out-of-range field of a section is reported (an attrs
validator would stop at the first one), located at its own line. ``docs/config.md`` prints the
same ``Range`` objects, so the documented ranges are the enforced ones.
"""
from __future__ import annotations

import math
import typing
from typing import Annotated, Any, Optional

import attrs


@attrs.frozen
class Range:
    """Bounds a number (or, with ``length``, the item count of a list)."""

    ge: Optional[float] = None
    gt: Optional[float] = None
    le: Optional[float] = None
    lt: Optional[float] = None
    length: Optional[int] = None

    def describe(self) -> str:
        """``>= 1``, ``in [0, 1]``, ``> 0``, ``2 items``: the form docs and errors use."""
        lo = (f"[{_num(self.ge)}" if self.ge is not None else f"({_num(self.gt)}" if self.gt is not None else None)
        hi = (f"{_num(self.le)}]" if self.le is not None else f"{_num(self.lt)})" if self.lt is not None else None)
        parts = []
        if lo and hi:
            parts.append(f"in {lo}, {hi}")
        elif lo:
            parts.append((">= " if lo[0] == "[" else "> ") + lo[1:])
        elif hi:
            parts.append(("<= " if hi[-1] == "]" else "< ") + hi[:-1])
        if self.length is not None:
            parts.append(f"{self.length} items")
        return ", ".join(parts)

    def violated_by(self, value: Any) -> bool:
        if self.length is not None and isinstance(value, (list, tuple)):
            return len(value) != self.length
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return True  # nan/inf are never a sensible setting (and nan compares False with any bound)
        return ((self.ge is not None and value < self.ge) or (self.gt is not None and value <= self.gt)
                or (self.le is not None and value > self.le) or (self.lt is not None and value >= self.lt))


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def range_of(tp: Any) -> Optional[Range]:
    """The ``Range`` inside ``Annotated[...]`` (looking through ``Optional``), else None."""
    if typing.get_origin(tp) is typing.Union:
        inner = [range_of(a) for a in typing.get_args(tp) if a is not type(None)]
        found = [r for r in inner if r is not None]
        return found[0] if len(found) == 1 else None
    if typing.get_origin(tp) is Annotated:
        return next((m for m in typing.get_args(tp)[1:] if isinstance(m, Range)), None)
    return None


# the ranges the config uses; one name per meaning keeps the generated docs readable
PositiveInt = Annotated[int, Range(ge=1)]
NonNegativeInt = Annotated[int, Range(ge=0)]
PositiveFloat = Annotated[float, Range(gt=0)]
NonNegativeFloat = Annotated[float, Range(ge=0)]
Probability = Annotated[float, Range(ge=0, le=1)]
Seed = Annotated[int, Range(ge=0, le=2**32 - 1)]  # numpy's seed range
