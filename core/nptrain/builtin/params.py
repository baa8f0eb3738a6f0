"""Params classes of the built-in providers (attrs only: importing this stays light)."""
from __future__ import annotations

from typing import Literal, Optional

import attrs

from nptrain.config.ranges import NonNegativeInt, PositiveInt, Probability

Activation = Literal["relu", "relu6", "gelu", "silu", "swish", "hard_swish", "leaky_relu", "identity"]


@attrs.define(kw_only=True)
class FCHeadParams:
    """``fc``: global average pool (for maps) then ``num_layers`` linear layers."""

    num_layers: int = attrs.field(default=1, validator=attrs.validators.ge(1))
    intermediate_channels: PositiveInt = 1024
    # used between hidden layers only: ~ is fine with num_layers 1 (NetsPresso writes it so)
    act_type: Optional[Activation] = "relu"
    dropout_prob: Probability = 0.0

    def __attrs_post_init__(self) -> None:
        if self.act_type is None and self.num_layers > 1:
            raise ValueError(f"act_type: num_layers {self.num_layers} puts an activation between the linear "
                             f"layers; name one (e.g. relu, hard_swish), or set num_layers: 1")


@attrs.define(kw_only=True)
class FCConvHeadParams:
    """``fc_conv``: pool to 1x1, ``num_layers - 1`` 1x1 conv-norm-act layers, dropout, a 1x1 conv to the classes."""

    num_layers: int = attrs.field(default=2, validator=attrs.validators.ge(1))
    intermediate_channels: PositiveInt = 1280
    act_type: Optional[Activation] = "relu"
    norm_type: Optional[Literal["batch_norm", "group_norm", "layer_norm"]] = "batch_norm"
    dropout_prob: Probability = 0.0


@attrs.define(kw_only=True)
class FPNParams:
    """``fpn``: lateral 1×1 convs, top-down sum, 3×3 output convs, optional extra levels."""

    # ~: as wide as the deepest input level (NetsPresso Trainer's FPN has no such field and always does that)
    out_channels: Optional[PositiveInt] = 256
    num_outs: PositiveInt = 4
    start_level: NonNegativeInt = 0
    end_level: int = -1
    add_extra_convs: bool = False
    relu_before_extra_convs: bool = False


@attrs.define(kw_only=True)
class CrossEntropyParams:
    label_smoothing: Probability = 0.0


@attrs.define(kw_only=True)
class FocalLossParams:
    """``focal_loss`` (classification): sigmoid focal loss against one-hot (or mixed) targets, averaged over
    every image and class as NetsPresso Trainer's ``focal_loss`` does; ``alpha < 0`` turns the class weighting off."""

    alpha: float = 0.25
    gamma: float = attrs.field(default=2.0, validator=attrs.validators.ge(0))


@attrs.define(kw_only=True)
class SegCrossEntropyParams:
    ignore_index: int = 255
    class_weights: Optional[list[float]] = None
    label_smoothing: Probability = 0.0


@attrs.define(kw_only=True)
class SimpleCNNStage:
    channels: PositiveInt = 32
    num_blocks: PositiveInt = 1
    stride: Literal[1, 2] = 2


def _default_cnn_stages() -> list:
    return [SimpleCNNStage(channels=c) for c in (16, 32, 64, 128)]


@attrs.define(kw_only=True)
class SimpleCNNParams:
    """``simple_cnn``: a stride-2 stem and residual 3×3 conv stages; small, fast, prunable."""

    stem_channels: PositiveInt = 16
    norm_type: Literal["batch_norm", "group_norm"] = "batch_norm"
    act_type: Activation = "relu"
    return_stage_idx: Optional[list[int]] = None


@attrs.define(kw_only=True)
class FCNHeadParams:
    """``fcn``: every level 1×1-projected, upsampled to the finest map and summed (``use_all_levels``;
    else the finest level only), then 3×3 conv-BN-act and a 1×1 classifier."""

    intermediate_channels: PositiveInt = 64
    act_type: Activation = "relu"
    dropout_prob: Probability = 0.0
    use_all_levels: bool = True
