"""Params classes of the built-in detection providers (attrs only: importing this stays light).

Field names follow NetsPresso Trainer's configs (``depthwise``, ``dep_mul``, ``wid_mul``,
``act_type``, ``l1_activate_epoch``) so its YAML files load unchanged.
"""
from __future__ import annotations

from typing import Literal, Optional

import attrs

from nptrain.builtin.params import Activation


@attrs.define(kw_only=True)
class CSPDarknetParams:
    """``cspdarknet`` (YOLOX backbone): Focus stem, 4 CSP stages, SPP before the last; returns
    dark3/dark4/dark5 (strides 8/16/32). Defaults are YOLOX-s."""

    depthwise: bool = False
    dep_mul: float = attrs.field(default=0.33, validator=attrs.validators.gt(0))
    wid_mul: float = attrs.field(default=0.5, validator=attrs.validators.gt(0))
    act_type: Activation = "silu"


@attrs.define(kw_only=True)
class YOLOPAFPNParams:
    """``yolopafpn``: top-down then bottom-up path aggregation with CSP layers; output widths equal
    the input widths (channels come from the backbone, so no ``wid_mul``)."""

    depthwise: bool = False
    dep_mul: float = attrs.field(default=0.33, validator=attrs.validators.gt(0))
    act_type: Activation = "silu"


@attrs.define(kw_only=True)
class AnchorFreeDecoupledHeadParams:
    """``anchor_free_decoupled_head`` (YOLOX head): per level a 1×1 stem, then separate 2-conv
    branches for classification and for box + objectness. Hidden width = the first level's channels."""

    depthwise: bool = False
    act_type: Activation = "silu"
    prior_prob: float = attrs.field(default=0.01, validator=[attrs.validators.gt(0), attrs.validators.lt(1)])


@attrs.define(kw_only=True)
class YOLOXLossParams:
    """``yolox_loss``: SimOTA assignment; IoU loss on boxes, BCE on objectness (all anchors) and on
    classes (positives, IoU-aware targets), optional L1 on the raw box offsets.

    L1 is on when ``use_l1`` is true, or once the loss's ``epoch`` attribute (set by the trainer
    through ``set_epoch``) reaches ``l1_activate_epoch``; with neither it stays off.
    ``strides`` is only used when the model output does not carry its anchor points (eval-mode
    output, e.g. a validation loss) to rebuild the grids; training-mode outputs carry them.
    """

    l1_activate_epoch: Optional[int] = None
    use_l1: bool = False
    iou_weight: float = 5.0
    obj_weight: float = 1.0
    cls_weight: float = 1.0
    l1_weight: float = 1.0
    center_radius: float = attrs.field(default=2.5, validator=attrs.validators.gt(0))
    iou_loss: Literal["iou", "giou"] = "iou"
    strides: list[int] = attrs.Factory(lambda: [8, 16, 32])
