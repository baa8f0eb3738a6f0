"""GELAN / YOLOv9 params with NetsPresso Trainer's field names; attrs only, so the entry module stays light.

A GELAN stage is NetsPresso's list of blocks, each a list that starts with the block's kind:

- ``['conv', out_channels, kernel_size, stride]``: conv-norm-act;
- ``['elan', out_channels, part_channels, use_identity]``: ELAN (a 1×1 conv split in two halves, two 3×3 convs
  chained on the second half, all four maps concatenated into a 1×1 conv);
- ``['repncspelan', out_channels, part_channels, use_identity, depth]``: the same with a RepNCSP stage (``depth``
  re-parameterisable bottlenecks) before each 3×3 conv; ``use_identity`` adds the RepVGG identity branch;
- ``['aconv', out_channels]``: average pool 2×2 (stride 1), then a strided 3×3 conv;
- ``['adown', out_channels]``: average pool, then half the channels through a strided 3×3 conv and half through
  a strided 3×3 max pool and a 1×1 conv;
- ``['sppelan', out_channels, hidden_channels]``: a 1×1 conv, three chained 5×5 max pools, all four concatenated into
  a 1×1 conv."""
from __future__ import annotations

from typing import Any, Literal, Optional

import attrs

from nptrain.config.block_list import Block, parse_blocks

# the fields after the kind, per kind: (name, what it takes)
BLOCKS: dict[str, tuple[tuple[str, str], ...]] = {
    "conv": (("out_channels", "int"), ("kernel_size", "int"), ("stride", "stride")),
    "elan": (("out_channels", "int"), ("part_channels", "even"), ("use_identity", "bool")),
    "repncspelan": (("out_channels", "int"), ("part_channels", "even"), ("use_identity", "bool"), ("depth", "int")),
    "aconv": (("out_channels", "int"),),
    "adown": (("out_channels", "even"),),
    "sppelan": (("out_channels", "int"), ("hidden_channels", "int")),
}
STRIDES = {"aconv": 2, "adown": 2}  # the blocks that halve the resolution besides a strided conv


def stride_of(block: Block) -> int:
    """How much the block divides the resolution by."""
    return int(block.fields.get("stride", STRIDES.get(block.kind, 1)))


@attrs.frozen
class GELANStage:
    """One stage: a list of blocks in NetsPresso's list form (see the module docstring)."""

    blocks: tuple[Block, ...]

    @classmethod
    def from_config(cls, value: Any) -> "GELANStage":
        """The stage a config wrote; a :class:`~nptrain.errors.ValueAt` naming the block and what it expects."""
        return cls(parse_blocks(value, BLOCKS, family="gelan", example="repncspelan"))

    def to_config(self) -> list:
        return [b.to_config() for b in self.blocks]


Act = Literal["relu", "relu6", "gelu", "silu", "swish", "hard_swish", "leaky_relu"]


@attrs.define(kw_only=True)
class GELANParams:
    stem_out_channels: int = attrs.field(default=16, validator=attrs.validators.ge(1))
    stem_kernel_size: int = attrs.field(default=3, validator=attrs.validators.ge(1))
    stem_stride: Literal[1, 2] = 2
    act_type: Act = "silu"
    # which stages forward returns (0-based); ~: the last (NetsPresso's default)
    return_stage_idx: Optional[list[int]] = None


@attrs.define(kw_only=True)
class YOLOv9FPNParams:
    """NetsPresso's ``yolov9fpn``: SPPELAN on the deepest map, two top-down RepNCSPELAN fusions, then two bottom-up
    ones, each down-step an ``aconv`` or ``adown`` (``bu_type``); ``*_channels`` are the widths of each map."""

    repeat_num: int = attrs.field(default=1, validator=attrs.validators.ge(1))  # RepNCSP depth in every fusion
    act_type: Act = "silu"
    bu_type: Literal["aconv", "adown"] = "aconv"
    spp_channels: int = attrs.field(default=128, validator=attrs.validators.ge(1))
    n4_channels: int = attrs.field(default=96, validator=attrs.validators.ge(2))
    p3_channels: int = attrs.field(default=64, validator=attrs.validators.ge(2))
    p3_to_p4_channels: int = attrs.field(default=48, validator=attrs.validators.ge(1))
    p4_channels: int = attrs.field(default=96, validator=attrs.validators.ge(2))
    p4_to_p5_channels: int = attrs.field(default=64, validator=attrs.validators.ge(1))
    p5_channels: int = attrs.field(default=128, validator=attrs.validators.ge(2))
    # YOLOv9's auxiliary branch; NetsPresso 1.4.1 comments it out and so does nptrain: only false is accepted
    use_aux_loss: Literal[False] = False


@attrs.define(kw_only=True)
class YOLODetectionHeadParams:
    """NetsPresso's ``yolo_detection_head`` (``version: v9``): per level a box branch predicting ``reg_max`` bins
    for each of the four side distances (DFL) and a class branch."""

    version: Literal["v9"] = "v9"
    num_anchors: Optional[int] = None  # anchor-free: NetsPresso writes ~
    use_group: bool = True  # the box branch's second conv and output in 4 groups (one per side)
    reg_max: int = attrs.field(default=16, validator=attrs.validators.ge(2))
    act_type: Act = "silu"
    use_aux_loss: Literal[False] = False
    prior_prob: float = attrs.field(default=0.01, validator=[attrs.validators.gt(0), attrs.validators.lt(1)])


@attrs.define(kw_only=True)
class YOLOv9LossParams:
    """``yolov9_loss``: task-aligned assignment (a location is a candidate for a box when its centre lies inside;
    each box keeps the ``topk`` candidates of highest ``IoU^iou_factor * p(class)^cls_factor``; a location claimed
    by several keeps the box it overlaps most), BCE on the classes against the alignment-scaled IoU, CIoU on the
    boxes and distribution focal loss on the side bins, weighted ``cls_weight`` / ``iou_weight`` / ``dfl_weight``
    (YOLOv9's and NetsPresso's 0.5 / 7.5 / 1.5). ``reg_max`` must be the head's."""

    reg_max: int = attrs.field(default=16, validator=attrs.validators.ge(2))
    topk: int = attrs.field(default=10, validator=attrs.validators.ge(1))
    iou_factor: float = 6.0
    cls_factor: float = 0.5
    cls_weight: float = attrs.field(default=0.5, validator=attrs.validators.ge(0))
    iou_weight: float = attrs.field(default=7.5, validator=attrs.validators.ge(0))
    dfl_weight: float = attrs.field(default=1.5, validator=attrs.validators.ge(0))
    # NetsPresso's configs carry it (its YOLOX loss's switch); YOLOv9's loss has no L1 term, so it changes nothing
    l1_activate_epoch: Optional[int] = None
