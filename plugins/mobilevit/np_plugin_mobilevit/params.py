"""MobileViT params (NetsPresso Trainer field names where it has them); attrs only, so the entry module stays light.

The defaults are apple/ml-cvnets' MobileViT-S, so ``params: {}`` with no ``stage_params`` builds the
``mobilevit_s`` backbone.
"""
from __future__ import annotations

from typing import Literal, Optional

import attrs
from attrs import validators as v

MobileViTActivation = Literal["silu", "swish", "relu", "relu6", "gelu", "hard_swish"]

_PROB = [v.ge(0.0), v.le(1.0)]


@attrs.define(kw_only=True)
class MobileViTParams:
    """``mobilevit`` backbone (ml-cvnets MobileViT v1: MobileNetV2 blocks + MobileViT blocks)."""

    # side of one unfolding patch (ml-cvnets patch_h = patch_w); tokens attend across patches at the same pixel offset
    patch_size: int = attrs.field(default=2, validator=v.ge(1))
    # heads of every transformer block (ml-cvnets number_heads); each attention_channels must be divisible by it
    num_attention_heads: int = attrs.field(default=4, validator=v.ge(1))
    # dropout on the attention weights (ml-cvnets attn_dropout)
    attention_dropout_prob: float = attrs.field(default=0.0, validator=_PROB)
    # dropout between the two MLP layers (ml-cvnets ffn_dropout)
    ffn_dropout_prob: float = attrs.field(default=0.0, validator=_PROB)
    # dropout after the attention projection and after the MLP (ml-cvnets mit.dropout; 0.1 in its ImageNet recipe)
    dropout_prob: float = attrs.field(default=0.1, validator=_PROB)
    # width of the final 1x1 conv: min(output_expansion_ratio * last stage width, max_output_channels)
    output_expansion_ratio: float = attrs.field(default=4.0, validator=v.gt(0.0))
    # ml-cvnets caps the final 1x1 conv at 960 channels
    max_output_channels: int = attrs.field(default=960, validator=v.ge(1))
    # concatenate the block input with the global branch and fuse them by a 3x3 conv (ml-cvnets: not no_fuse)
    use_fusion_layer: bool = True
    # kernel of the local-representation conv and the fusion conv (ml-cvnets conv_kernel_size)
    conv_kernel_size: int = attrs.field(default=3, validator=v.ge(1))
    # width of the stride-2 3x3 stem conv
    stem_channels: int = attrs.field(default=16, validator=v.ge(1))
    # activation of every conv layer and of the transformer MLPs (ml-cvnets: swish = SiLU)
    act_type: MobileViTActivation = "silu"
    # LayerNorm eps in the transformer (ml-cvnets LayerNorm default)
    norm_eps: float = attrs.field(default=1e-5, validator=v.gt(0.0))

    def __attrs_post_init__(self) -> None:
        if self.conv_kernel_size % 2 == 0:
            raise ValueError(f"conv_kernel_size must be odd (same padding), got {self.conv_kernel_size}")


@attrs.define(kw_only=True)
class MobileViTStageParams:
    """One stage (ml-cvnets ``layerN``).

    ``mv2``: ``num_blocks`` inverted residual blocks, the first with ``stride``.
    ``mobilevit``: one inverted residual block when ``stride`` is 2 (downsampling, expansion
    ``ir_expansion_ratio``), then one MobileViT block with ``num_blocks`` transformer blocks of width
    ``attention_channels`` and MLP width ``ffn_intermediate_channels``.
    """

    block_type: Literal["mv2", "mobilevit"] = "mv2"
    out_channels: int = attrs.field(default=32, validator=v.ge(1))
    num_blocks: int = attrs.field(default=1, validator=v.ge(1))
    stride: int = attrs.field(default=1, validator=v.in_((1, 2)))
    # inverted residual expansion (hidden width = round(in * ratio) made divisible by 8, as in ml-cvnets)
    ir_expansion_ratio: float = attrs.field(default=4.0, validator=v.gt(0.0))
    # transformer width of a mobilevit stage (ml-cvnets transformer_channels); required there
    attention_channels: Optional[int] = attrs.field(default=None, validator=v.optional(v.ge(1)))
    # MLP hidden width of a mobilevit stage (ml-cvnets ffn_dim); required there
    ffn_intermediate_channels: Optional[int] = attrs.field(default=None, validator=v.optional(v.ge(1)))
    # replace the stage's stride 2 by dilation (ml-cvnets dilate_l4/l5, for dense prediction)
    dilate: bool = False

    def __attrs_post_init__(self) -> None:
        widths = (self.attention_channels, self.ffn_intermediate_channels)
        if self.block_type == "mobilevit" and None in widths:
            raise ValueError("a mobilevit stage needs attention_channels and ffn_intermediate_channels")


def _mv2(out: int, blocks: int, stride: int, ratio: float) -> dict:
    return {"block_type": "mv2", "out_channels": out, "num_blocks": blocks, "stride": stride,
            "ir_expansion_ratio": ratio}


def _mvit(out: int, dim: int, ffn: int, blocks: int, ratio: float) -> dict:
    return {"block_type": "mobilevit", "out_channels": out, "num_blocks": blocks, "stride": 2,
            "ir_expansion_ratio": ratio, "attention_channels": dim, "ffn_intermediate_channels": ffn, "dilate": False}


# ml-cvnets cvnets/models/classification/config/mobilevit.py, modes small / x_small / xx_small
STAGES: dict[str, list[dict]] = {
    "mobilevit_s": [_mv2(32, 1, 1, 4), _mv2(64, 3, 2, 4), _mvit(96, 144, 288, 2, 4),
                    _mvit(128, 192, 384, 4, 4), _mvit(160, 240, 480, 3, 4)],
    "mobilevit_xs": [_mv2(32, 1, 1, 4), _mv2(48, 3, 2, 4), _mvit(64, 96, 192, 2, 4),
                     _mvit(80, 120, 240, 4, 4), _mvit(96, 144, 288, 3, 4)],
    "mobilevit_xxs": [_mv2(16, 1, 1, 2), _mv2(24, 3, 2, 2), _mvit(48, 64, 128, 2, 2),
                      _mvit(64, 80, 160, 4, 2), _mvit(80, 96, 192, 3, 2)],
}


def default_stages() -> list[MobileViTStageParams]:
    """MobileViT-S stages: what an empty ``stage_params`` builds."""
    return [MobileViTStageParams(**s) for s in STAGES["mobilevit_s"]]
