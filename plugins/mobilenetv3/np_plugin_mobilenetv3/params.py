"""MobileNetV3 params with NetsPresso Trainer's field names; attrs only, so the entry module stays light.

A stage is NetsPresso's per-stage record of equal-length lists, one entry per inverted-residual block."""
from __future__ import annotations

from typing import Literal, Optional

import attrs

BlockActivation = Literal["relu", "hard_swish"]
# the per-block lists of a stage, in NetsPresso's order
BLOCK_FIELDS = ("in_channels", "kernel_sizes", "expanded_channels", "out_channels", "use_se", "act_type", "stride")


def _positive(_inst, attribute, value) -> None:
    if any(int(v) < 1 for v in value):
        raise ValueError(f"{attribute.name}: every entry must be >= 1, got {value}")


@attrs.define(kw_only=True)
class MobileNetV3Stage:
    """One stage: block ``i`` maps ``in_channels[i]`` through a ``kernel_sizes[i]`` depthwise conv at
    ``expanded_channels[i]`` (a 1x1 expansion first when that differs from ``in_channels[i]``), an optional
    squeeze-excitation, to ``out_channels[i]``; ``stride[i]`` is 1 or 2."""

    in_channels: list[int] = attrs.field(validator=_positive)
    kernel_sizes: list[int] = attrs.field(validator=_positive)
    expanded_channels: list[int] = attrs.field(validator=_positive)
    out_channels: list[int] = attrs.field(validator=_positive)
    use_se: list[bool]
    act_type: list[BlockActivation]
    stride: list[Literal[1, 2]]

    def __attrs_post_init__(self) -> None:
        lengths = {name: len(getattr(self, name)) for name in BLOCK_FIELDS}
        if len(set(lengths.values())) != 1:
            n = lengths["in_channels"]
            odd = ", ".join(f"{k} has {v}" for k, v in lengths.items() if v != n)
            raise ValueError(f"every list of a stage has one entry per block: in_channels has {n}, {odd}")
        if not lengths["in_channels"]:
            raise ValueError("a stage needs at least one block (its lists are empty)")
        for i in range(1, lengths["in_channels"]):
            if self.in_channels[i] != self.out_channels[i - 1]:
                raise ValueError(f"block {i}: in_channels {self.in_channels[i]} must equal the previous block's "
                                 f"out_channels {self.out_channels[i - 1]}")

    def blocks(self) -> list[tuple]:
        """(in, kernel, expanded, out, use_se, act, stride) per block."""
        return list(zip(*(getattr(self, name) for name in BLOCK_FIELDS)))


@attrs.define(kw_only=True)
class MobileNetV3Params:
    # which stages forward returns (0-based); None: all (NetsPresso returns every stage for dense tasks)
    return_stage_idx: Optional[list[int]] = None
