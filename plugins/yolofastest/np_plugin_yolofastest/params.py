"""YOLO-FastestV2 params with NetsPresso Trainer's field names; attrs only, so the entry module stays light."""
from __future__ import annotations

from typing import Literal, Optional

import attrs

# output widths of the stem and the three stages per model_size (ShuffleNetV2's Table 5)
WIDTHS = {"0.5x": (24, 48, 96, 192), "1.0x": (24, 116, 232, 464), "1.5x": (24, 176, 352, 704),
          "2.0x": (24, 244, 488, 976)}


def _anchors_valid(instance, attribute, value) -> None:
    if not value or any(not level or len(level) % 2 for level in value):
        raise ValueError(f"{attribute.name}: one list per feature level of anchor sizes as [w1, h1, w2, h2, …] "
                         f"pixels; got {value!r}")
    if len({len(level) for level in value}) != 1:
        raise ValueError(f"{attribute.name}: every level needs the same number of anchors (the head's convs predict "
                         f"that many per location); got {[len(level) // 2 for level in value]}")
    if any(v <= 0 for level in value for v in level):
        raise ValueError(f"{attribute.name}: anchor sizes are positive pixels; got {value!r}")


def _default_anchors() -> list[list[float]]:
    return [[12.0, 18.0, 37.0, 49.0, 52.0, 132.0], [115.0, 73.0, 119.0, 199.0, 242.0, 238.0]]


@attrs.define(kw_only=True)
class ShuffleNetV2Params:
    model_size: Literal["0.5x", "1.0x", "1.5x", "2.0x"] = "0.5x"


@attrs.define(kw_only=True)
class LightFPNParams:
    """NetsPresso's ``lightfpn``: the deepest map through a 1×1 conv; the deepest upsampled ×2, concatenated with the
    one before it and through a 1×1 conv. Both outputs ``out_channels`` wide."""

    out_channels: int = attrs.field(default=72, validator=attrs.validators.ge(1))


@attrs.define(kw_only=True)
class YOLOFastestHeadV2Params:
    """``yolo_fastest_head_v2``: per level, a class branch (class logits shared by the anchors, and one objectness
    per anchor) and a box branch (4 offsets per anchor), each two separable 5×5 convs; ``anchors`` per level as
    ``[w1, h1, w2, h2, …]`` pixels (NetsPresso's and YOLO-FastestV2's COCO anchors by default)."""

    anchors: list[list[float]] = attrs.field(factory=_default_anchors, validator=_anchors_valid)
    prior_prob: float = attrs.field(default=0.01, validator=[attrs.validators.gt(0), attrs.validators.lt(1)])
    # netspresso: NetsPresso Trainer's decoding (sigmoid offsets from the cell corner, w = 4 sigmoid(tw - ln 3) anchor,
    # sigmoid classes); original: dog-qiuqiu's (YOLOv5's: 2 sigmoid - 0.5 offsets, w = (2 sigmoid(tw))^2 anchor,
    # softmax classes), for weights converted from its files
    box_coding: Literal["netspresso", "original"] = "netspresso"


@attrs.define(kw_only=True)
class YOLOFastestLossParams:
    """``yolofastest_loss``: YOLOX's loss on YOLO-FastestV2's anchor boxes, as NetsPresso Trainer trains it: SimOTA
    assignment around the cell centres, GIoU on the boxes, BCE on objectness and classes (no L1: NetsPresso turns
    it off). ``anchors`` must be the head's (they rebuild the anchor grid for a validation loss)."""

    anchors: list[list[float]] = attrs.field(factory=_default_anchors, validator=_anchors_valid)
    iou_weight: float = 5.0
    obj_weight: float = 1.0
    cls_weight: float = 1.0
    center_radius: float = attrs.field(default=2.5, validator=attrs.validators.gt(0))
    strides: list[int] = attrs.Factory(lambda: [16, 32])
    # NetsPresso's configs carry it; its YOLO-Fastest loss never turns L1 on, and neither does this one
    l1_activate_epoch: Optional[int] = None
