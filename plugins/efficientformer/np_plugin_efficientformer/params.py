"""EfficientFormer params (NetsPresso Trainer field names where it has them); attrs only, so the entry module stays light.

The defaults are snap-research's EfficientFormer-L1, so ``params: {}`` with no ``stage_params`` builds
the ``efficientformer_l1`` backbone.
"""
from __future__ import annotations

from typing import Literal, Optional

import attrs
from attrs import validators as v

FFNActivation = Literal["gelu", "gelu_tanh", "relu", "relu6", "silu", "swish", "hard_swish"]


def _four_flags(instance: object, attribute: attrs.Attribute, value: list[bool]) -> None:
    if len(value) != 4 or not all(isinstance(b, bool) for b in value):
        raise ValueError(f"{attribute.name} must be a list of four booleans, got {value!r}")


@attrs.define(kw_only=True)
class EfficientFormerStage:
    """One of the four stages: ``num_blocks`` blocks of width ``channels`` (snap ``layers[i]`` / ``embed_dims[i]``)."""

    num_blocks: int = attrs.field(default=3, validator=v.ge(1))
    channels: int = attrs.field(default=48, validator=v.ge(2))


def default_stages() -> list[EfficientFormerStage]:
    """EfficientFormer-L1's stage layout: used when ``stage_params`` is empty."""
    return [EfficientFormerStage(num_blocks=n, channels=c) for n, c in zip((3, 2, 6, 4), (48, 96, 224, 448))]


@attrs.define(kw_only=True)
class EfficientFormerParams:
    """``efficientformer`` backbone: conv stem, pooling (Meta4D) blocks, and attention (Meta3D) blocks at the end."""

    # heads of every Meta3D attention (snap: 8 for l1/l3/l7)
    num_attention_heads: int = attrs.field(default=8, validator=v.ge(1))
    # query (= key) width summed over the heads: num_attention_heads * key_dim (snap: 8 * 32)
    attention_channels: int = attrs.field(default=256, validator=v.ge(1))
    # dropout on the attention weights (snap has none: 0.0)
    attention_dropout_prob: float = attrs.field(default=0.0, validator=[v.ge(0.0), v.le(1.0)])
    # value width per head as a multiple of key_dim (snap attn_ratio=4)
    attention_value_expansion_ratio: int = attrs.field(default=4, validator=v.ge(1))
    # MLP hidden width = int(channels * ratio), in both block kinds (snap mlp_ratios)
    ffn_intermediate_ratio: float = attrs.field(default=4.0, validator=v.gt(0.0))
    # dropout after the MLP activation and after its output (snap drop_rate)
    ffn_dropout_prob: float = attrs.field(default=0.0, validator=[v.ge(0.0), v.le(1.0)])
    ffn_act_type: FFNActivation = "gelu"
    # how many of the last stage's final blocks are Meta3D (attention) blocks; 0: none
    vit_num: int = attrs.field(default=1, validator=v.ge(0))
    # Meta4D token mixer: average pool of this size minus the input (snap pool_size)
    pool_size: int = attrs.field(default=3, validator=v.ge(1))
    # initial layer-scale value of every block; None disables layer scale (snap use_layer_scale=False)
    layer_scale_init_value: Optional[float] = 1e-5
    # a stride-2 conv+BN embedding before stage i+1 when downsamples[i] (or the width changes); snap: all True
    downsamples: list[bool] = attrs.field(factory=lambda: [True, True, True, True], validator=_four_flags)
    # side of the learned attention-bias table (snap resolution=7, the 7x7 token grid of a 224 input);
    # token grids of another size index the same table, offsets beyond it reuse the largest one
    attention_bias_resolution: int = attrs.field(default=7, validator=v.ge(1))
    # stochastic depth, rising linearly over all blocks from 0 to this (snap drop_path_rate)
    drop_path_rate: float = attrs.field(default=0.0, validator=[v.ge(0.0), v.lt(1.0)])
    # dense tasks only: a GroupNorm(1, C) on every returned stage. "side": the normalised copy is returned and
    # the unnormalised map goes on (snap's fork_feat models); "inline": the normalised map also goes on to the
    # next stage (NetsPresso Trainer's dense EfficientFormer, set when its configs are translated); ~: none,
    # the last stage through the final LayerNorm
    fork_norms: Optional[Literal["side", "inline"]] = None

    def __attrs_post_init__(self) -> None:
        if self.attention_channels % self.num_attention_heads:
            raise ValueError(f"attention_channels ({self.attention_channels}) must be divisible by "
                             f"num_attention_heads ({self.num_attention_heads})")
        if self.pool_size % 2 == 0:
            raise ValueError(f"pool_size must be odd so the pooled map keeps its size, got {self.pool_size}")


@attrs.define(kw_only=True)
class EfficientFormerHeadParams:
    """``efficientformer_head``: mean over the last feature's positions, then a classifier.

    With ``distillation`` a second classifier (snap ``dist_head``) sees the same pooled vector;
    eval mode returns the mean of both logits, as the original does."""

    distillation: bool = True
