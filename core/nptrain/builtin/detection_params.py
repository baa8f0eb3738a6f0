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


def _anchor_sizes_default() -> list[list[float]]:
    return [[32.0], [64.0], [128.0], [256.0]]


def _sizes_positive(instance, attribute, value) -> None:
    if not value or any(not level or any(s <= 0 for s in level) for level in value):
        raise ValueError(f"{attribute.name}: one non-empty list of positive sizes (pixels) per feature level")


def _ratios_positive(instance, attribute, value) -> None:
    if not value or any(r <= 0 for r in value):
        raise ValueError(f"{attribute.name}: a non-empty list of positive height/width ratios")


@attrs.define(kw_only=True)
class AnchorDecoupledHeadParams:
    """``anchor_decoupled_head`` (RetinaNet head, NetsPresso Trainer's fields): per level
    ``len(aspect_ratios) * len(anchor_sizes[level])`` anchors; ``num_layers`` conv-norm-act units in each of the
    class and box branches, shared by all levels. ``act_type`` is nptrain's addition (NetsPresso: relu).

    ``norm_type`` defaults to ``group_norm``: the branches run once per level, so a BatchNorm's running statistics
    mix the levels and the model evaluates far worse than it trains. NetsPresso's configs say ``batch_norm``; it
    is kept for their checkpoints."""

    anchor_sizes: list[list[float]] = attrs.field(factory=_anchor_sizes_default, validator=_sizes_positive)
    aspect_ratios: list[float] = attrs.field(factory=lambda: [0.5, 1.0, 2.0], validator=_ratios_positive)
    num_layers: int = attrs.field(default=1, validator=attrs.validators.ge(0))
    norm_type: Literal["batch_norm", "group_norm", "layer_norm"] = "group_norm"
    act_type: Activation = "relu"
    prior_prob: float = attrs.field(default=0.01, validator=[attrs.validators.gt(0), attrs.validators.lt(1)])


@attrs.define(kw_only=True)
class RetinaNetLossParams:
    """``retinanet_loss``: anchors matched to boxes by IoU (``fg_iou_thresh`` and above: that box; below
    ``bg_iou_thresh``: background; between: ignored; each box also keeps its best anchors), sigmoid focal loss
    on the classes (``alpha``, ``gamma``) and L1 on the box deltas, each summed per image over the matched
    anchors and divided by their number, then averaged over the batch (torchvision's RetinaNet, which
    NetsPresso Trainer uses with these defaults).

    Training-mode outputs carry their anchors. ``anchor_sizes`` / ``aspect_ratios`` are only for outputs that
    do not (a validation loss, a deployed artifact's output): they must be the head's, and training checks
    that they are."""

    alpha: float = 0.25
    gamma: float = attrs.field(default=2.0, validator=attrs.validators.ge(0))
    fg_iou_thresh: float = attrs.field(default=0.5, validator=[attrs.validators.gt(0), attrs.validators.le(1)])
    bg_iou_thresh: float = attrs.field(default=0.4, validator=[attrs.validators.ge(0), attrs.validators.le(1)])
    cls_weight: float = 1.0
    box_weight: float = 1.0
    anchor_sizes: list[list[float]] = attrs.field(factory=_anchor_sizes_default, validator=_sizes_positive)
    aspect_ratios: list[float] = attrs.field(factory=lambda: [0.5, 1.0, 2.0], validator=_ratios_positive)

    def __attrs_post_init__(self) -> None:
        if self.bg_iou_thresh > self.fg_iou_thresh:
            raise ValueError(f"bg_iou_thresh {self.bg_iou_thresh} is above fg_iou_thresh {self.fg_iou_thresh}")
