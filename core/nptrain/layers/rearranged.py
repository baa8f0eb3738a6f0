"""Modules whose forward is an algebraic rearrangement of what their layers say, done for speed.

Example: SegFormer's decode head projects four feature maps, upsamples them and applies one 1x1 conv
to their concatenation. Upsampling and 1x1 convs are both linear and commute, so the same numbers come
out (up to float rounding) when each feature meets its slice of the fuse conv at its own, smaller
resolution and only the sums are upsampled. The parameters and the state dict are unchanged.

Graph analysis that follows module calls (structured pruning with torch-pruning) must see the
layer-by-layer form, or it loses the link between a projection's output channels and the fuse conv's
input channels: :func:`literal_forward` switches every such module to it for a ``with`` block.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


class Rearranged:
    """Mixin: ``self.rearranged`` chooses the fast form (default) or the literal one in ``forward``."""

    rearranged: bool = True


@contextmanager
def literal_forward(model: nn.Module) -> Iterator[nn.Module]:
    """Run every :class:`Rearranged` module of ``model`` layer by layer inside the block."""
    switched = [m for m in model.modules() if isinstance(m, Rearranged) and m.rearranged]
    for module in switched:
        module.rearranged = False
    try:
        yield model
    finally:
        for module in switched:
            module.rearranged = True
