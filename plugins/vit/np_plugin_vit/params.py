"""ViT params (NetsPresso Trainer field names where it has them); attrs only, so the entry module stays light.

The defaults are apple/ml-cvnets' ViT-Tiny, so ``params: {}`` builds the ``vit_tiny`` backbone.
"""
from __future__ import annotations

from typing import Literal, Optional

import attrs
from attrs import validators as v

ViTActivation = Literal["gelu", "gelu_tanh", "relu", "silu", "swish", "hard_swish"]


def _divisible_by_4(instance: object, attribute: attrs.Attribute, value: int) -> None:
    # the conv stem is k/s = patch_size // 4, then two 2x2 stride-2 convs (ml-cvnets: 4, 2, 2)
    if value < 4 or value % 4:
        raise ValueError(f"{attribute.name} must be a positive multiple of 4 (conv stem p/4, 2, 2), got {value}")


@attrs.define(kw_only=True)
class ViTParams:
    """``vit`` backbone (ml-cvnets VisionTransformer layout: conv stem, pre-norm encoder, CLS token)."""

    # input pixels per token side; the conv stem downsamples by patch_size // 4, 2 and 2
    patch_size: int = attrs.field(default=16, validator=_divisible_by_4)
    # token width (ml-cvnets embed_dim)
    attention_channels: int = attrs.field(default=192, validator=v.ge(1))
    # transformer encoder blocks (ml-cvnets n_transformer_layers)
    num_blocks: int = attrs.field(default=12, validator=v.ge(1))
    num_attention_heads: int = attrs.field(default=3, validator=v.ge(1))
    attention_dropout_prob: float = attrs.field(default=0.0, validator=[v.ge(0.0), v.le(1.0)])
    # hidden width of the channel MLP (ml-cvnets ffn_dim)
    ffn_intermediate_channels: int = attrs.field(default=768, validator=v.ge(1))
    # dropout between the two MLP layers (ml-cvnets ffn_dropout)
    ffn_dropout_prob: float = attrs.field(default=0.0, validator=[v.ge(0.0), v.le(1.0)])
    # dropout after the attention projection and after the MLP (ml-cvnets dropout)
    dropout_prob: float = attrs.field(default=0.0, validator=[v.ge(0.0), v.le(1.0)])
    # dropout on the embedded tokens (ml-cvnets pos_emb_drop_p; 0.1 for tiny)
    pos_embed_dropout_prob: float = attrs.field(default=0.1, validator=[v.ge(0.0), v.le(1.0)])
    # stochastic depth: per-block rates rise linearly from 0 to this (ml-cvnets stochastic_dropout)
    drop_path_rate: float = attrs.field(default=0.0, validator=[v.ge(0.0), v.lt(1.0)])
    # True: the feature is the CLS token after the final norm; False: the mean of all tokens
    use_cls_token: bool = True
    # image side the position-embedding table is laid out for: (image_size // patch_size)**2 entries;
    # other input sizes interpolate the table linearly along the token axis, as ml-cvnets does
    image_size: int = attrs.field(default=224, validator=v.ge(1))
    # fixed sinusoidal table (not trained, not in the state dict) instead of a learnable one
    use_sinusoidal_pos_embed: bool = False
    # conv-stem width; None: max(32, attention_channels // 4) as in ml-cvnets
    stem_channels: Optional[int] = attrs.field(default=None, validator=v.optional(v.ge(1)))
    act_type: ViTActivation = "gelu"
    # LayerNorm eps of every block and the final norm (ml-cvnets sets 1e-6 on all of them)
    norm_eps: float = attrs.field(default=1e-6, validator=v.gt(0.0))
    # "netspresso": NetsPresso Trainer 1.x's ViT (ml-cvnets' earlier one): one patch conv (kernel patch_size,
    # +1 when even), the CLS token first and a fixed interleaved sin/cos table of vocab_size rows added to every
    # token, CLS included, cut to the token count (set when its configs are translated)
    style: Literal["cvnets", "netspresso"] = "cvnets"
    # rows of the netspresso style's table: the most tokens (CLS included) an input may give
    vocab_size: int = attrs.field(default=1000, validator=v.ge(1))

    def __attrs_post_init__(self) -> None:
        if self.attention_channels % self.num_attention_heads:
            raise ValueError(f"attention_channels ({self.attention_channels}) must be divisible by "
                             f"num_attention_heads ({self.num_attention_heads})")
        if self.image_size < self.patch_size:
            raise ValueError(f"image_size ({self.image_size}) must be at least patch_size ({self.patch_size})")
