"""ResNet params (NetsPresso Trainer field names); attrs only, so the entry module stays light."""
from __future__ import annotations

from typing import Literal, Optional

import attrs


@attrs.define(kw_only=True)
class ResNetStage:
    channels: int = 64  # bottleneck width; a bottleneck stage outputs 4x this
    num_blocks: int = 2
    replace_stride_with_dilation: bool = False
    replace_stride_with_pooling: bool = False


@attrs.define(kw_only=True)
class ResNetParams:
    block_type: Literal["basicblock", "bottleneck"] = "bottleneck"
    norm_type: Literal["batch_norm", "group_norm"] = "batch_norm"
    # which of the four stages forward returns (0-based); None: all four
    return_stage_idx: Optional[list[int]] = None
    # three 3x3 stem convs (32, 32, 64) instead of one 7x7 (ResNet-C/D style); not torchvision-convertible
    split_stem_conv: bool = False
    # a 1x1 projection shortcut in the first block of stage 1 even when shapes already match
    first_stage_shortcut_conv: bool = False


def default_stages(block_type: str) -> list[ResNetStage]:
    """ResNet-50 (bottleneck) or ResNet-18 (basicblock) stage layout."""
    depths = [3, 4, 6, 3] if block_type == "bottleneck" else [2, 2, 2, 2]
    return [ResNetStage(channels=c, num_blocks=n) for c, n in zip((64, 128, 256, 512), depths)]
