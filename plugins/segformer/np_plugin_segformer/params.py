"""Params of the ``mixtransformer`` backbone and the ``all_mlp_decoder`` head.

Field names follow NetsPresso Trainer's configs so its YAML files load unchanged, including the
misspelt stage key ``attention_chananels`` (that is the key its shipped configs use). attrs only:
the entry module imports this without importing torch.
"""
from __future__ import annotations

from typing import Literal

import attrs

FFNActivation = Literal["gelu", "gelu_tanh", "relu", "relu6", "silu", "swish", "hard_swish", "leaky_relu"]


@attrs.define(kw_only=True)
class MixTransformerStage:
    """One MiT stage: an overlapping patch embedding followed by ``num_blocks`` transformer blocks."""

    num_blocks: int = attrs.field(default=2, validator=attrs.validators.ge(1))
    # key/value tokens come from a ``k = s = sequence_reduction_ratio`` conv (1: no reduction)
    sequence_reduction_ratio: int = attrs.field(default=1, validator=attrs.validators.ge(1))
    # stage width ("hidden size"); the key is misspelt on purpose: NetsPresso configs spell it so
    attention_chananels: int = attrs.field(default=32, validator=attrs.validators.ge(1))
    embedding_patch_sizes: int = attrs.field(default=3, validator=attrs.validators.ge(1))
    embedding_strides: int = attrs.field(default=2, validator=attrs.validators.ge(1))
    num_attention_heads: int = attrs.field(default=1, validator=attrs.validators.ge(1))

    def __attrs_post_init__(self) -> None:
        if self.attention_chananels % self.num_attention_heads:
            raise ValueError(f"attention_chananels ({self.attention_chananels}) must be divisible by "
                             f"num_attention_heads ({self.num_attention_heads})")


@attrs.define(kw_only=True)
class MixTransformerParams:
    """Block-level settings shared by every stage."""

    # Mix-FFN hidden width = round(ffn_intermediate_expansion_ratio * stage width)
    ffn_intermediate_expansion_ratio: float = 4.0
    ffn_act_type: FFNActivation = "gelu"
    # dropout after the FFN activation, after the FFN output and after the attention output
    # projection (Hugging Face's hidden_dropout_prob)
    ffn_dropout_prob: float = 0.0
    attention_dropout_prob: float = 0.0  # on the attention probabilities
    # extensions beyond NetsPresso's keys (Hugging Face config names)
    drop_path_rate: float = 0.0  # stochastic depth, rising linearly over all blocks to this value
    # every LayerNorm but the sequence-reduction one (1e-5 always): Hugging Face's modules use 1e-5; NVlabs'
    # original and NetsPresso Trainer use 1e-6 (a NetsPresso config's translation sets it)
    layer_norm_eps: float = 1e-5


@attrs.define(kw_only=True)
class AllMLPDecoderParams:
    """SegFormer's decode head: per-feature projection, upsample, concat, fuse, classify."""

    intermediate_channels: int = attrs.field(default=256, validator=attrs.validators.ge(1))
    classifier_dropout_prob: float = 0.1
    # segformer: the original (Xie et al.; Hugging Face's layout): per-feature Linear projections, concatenated
    # deepest first. netspresso: NetsPresso Trainer 1.x's: 1x1 conv + BatchNorm + ReLU projections,
    # concatenated shallowest first (what a NetsPresso config means, so its translation sets it)
    style: Literal["segformer", "netspresso"] = "segformer"


# MiT-B0 stage layout: the backbone's default when a config gives no stage_params
MIT_B0_STAGES = (
    {"num_blocks": 2, "sequence_reduction_ratio": 8, "attention_chananels": 32, "embedding_patch_sizes": 7,
     "embedding_strides": 4, "num_attention_heads": 1},
    {"num_blocks": 2, "sequence_reduction_ratio": 4, "attention_chananels": 64, "embedding_patch_sizes": 3,
     "embedding_strides": 2, "num_attention_heads": 2},
    {"num_blocks": 2, "sequence_reduction_ratio": 2, "attention_chananels": 160, "embedding_patch_sizes": 3,
     "embedding_strides": 2, "num_attention_heads": 5},
    {"num_blocks": 2, "sequence_reduction_ratio": 1, "attention_chananels": 256, "embedding_patch_sizes": 3,
     "embedding_strides": 2, "num_attention_heads": 8},
)


def default_stages() -> list[MixTransformerStage]:
    return [MixTransformerStage(**s) for s in MIT_B0_STAGES]
