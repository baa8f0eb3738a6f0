"""MixNet params with NetsPresso Trainer's field names; attrs only, so the entry module stays light.

A stage is NetsPresso's record of equal-length lists, one entry per group of ``num_blocks`` identical blocks."""
from __future__ import annotations

from typing import Literal, Optional

import attrs

BlockActivation = Literal["relu", "relu6", "swish", "silu", "hard_swish", "gelu"]
GROUP_FIELDS = ("expansion_ratio", "out_channels", "num_blocks", "kernel_sizes", "num_exp_groups",
                "num_poi_groups", "stride", "act_type", "se_reduction_ratio")


def _positive(_inst, attribute, value) -> None:
    flat = [v for item in value for v in (item if isinstance(item, list) else [item])]
    if any(int(v) < 1 for v in flat):
        raise ValueError(f"{attribute.name}: every entry must be >= 1, got {value}")


@attrs.define(kw_only=True)
class MixNetStage:
    """Entry ``i`` of every list describes ``num_blocks[i]`` mixed-depthwise blocks: a 1x1 expansion by
    ``expansion_ratio[i]`` in ``num_exp_groups[i]`` groups, a depthwise conv whose channels are split equally
    among ``kernel_sizes[i]`` (one kernel size per split), squeeze-excitation when ``se_reduction_ratio[i]``
    is set (squeeze width: block input / ratio), a 1x1 projection to ``out_channels[i]`` in
    ``num_poi_groups[i]`` groups; the first block of the group has ``stride[i]``."""

    expansion_ratio: list[int] = attrs.field(validator=_positive)
    out_channels: list[int] = attrs.field(validator=_positive)
    num_blocks: list[int] = attrs.field(validator=_positive)
    kernel_sizes: list[list[int]] = attrs.field(validator=_positive)
    num_exp_groups: list[int] = attrs.field(validator=_positive)
    num_poi_groups: list[int] = attrs.field(validator=_positive)
    stride: list[Literal[1, 2]]
    act_type: list[BlockActivation]
    se_reduction_ratio: list[Optional[float]]

    def __attrs_post_init__(self) -> None:
        lengths = {name: len(getattr(self, name)) for name in GROUP_FIELDS}
        n = lengths["out_channels"]
        if len(set(lengths.values())) != 1:
            odd = ", ".join(f"{k} has {v}" for k, v in lengths.items() if v != n)
            raise ValueError(f"every list of a stage has one entry per block group: out_channels has {n}, {odd}")
        if not n:
            raise ValueError("a stage needs at least one block group (its lists are empty)")
        if any(not ks for ks in self.kernel_sizes):
            raise ValueError("kernel_sizes: each entry is a non-empty list of kernel sizes, e.g. [3, 5]")

    def groups(self) -> list[tuple]:
        return list(zip(*(getattr(self, name) for name in GROUP_FIELDS)))


@attrs.define(kw_only=True)
class MixNetParams:
    stem_channels: int = attrs.field(default=16, validator=attrs.validators.ge(1))
    wid_mul: float = attrs.field(default=1.0, validator=attrs.validators.gt(0))
    dep_mul: float = attrs.field(default=1.0, validator=attrs.validators.gt(0))
    # training only: drop rate of residual branches (channel dropout) and, for classification, of the features
    dropout_rate: float = attrs.field(default=0.2, validator=[attrs.validators.ge(0), attrs.validators.lt(1)])
    # which stages forward returns (0-based); None: all
    return_stage_idx: Optional[list[int]] = None
