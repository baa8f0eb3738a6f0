"""``anchor_decoupled_head`` (RetinaNet's head, NetsPresso Trainer's name and fields) with in-model decoding.

One classification branch and one box branch, each ``num_layers`` conv-norm-act units and a final 3×3 conv,
shared by every pyramid level (so every level must have the same width). Each location has
``len(aspect_ratios) * len(anchor_sizes[level])`` anchors (:mod:`nptrain.detection.anchors`); the class branch
starts at the focal-loss prior ``prior_prob`` so the many background anchors do not swamp the first updates.

Output, eval mode: the detection contract every head here keeps, one ``(B, N, 5 + num_classes)`` tensor over
all levels (finest first, rows ordered (y, x, anchor)), rows ``[cx, cy, w, h, obj, cls…]`` with boxes decoded
to pixels. RetinaNet has no objectness: ``obj`` is a constant logit whose sigmoid is 1.0 in float32, so a
row's score is its class probability, as NetsPresso's own decoder takes it (its "dummy" objectness of 1).
The anchors come from each level's map through ``cumsum`` (fx-traceable, exportable for any input size).

Training mode returns ``{"pred": <the same>, "cls_logits": (B, N, C), "bbox_regression": (B, N, 4),
"anchors": (N, 4) xyxy}``: what ``retinanet_loss`` matches and regresses against.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import torch
from torch import nn

from nptrain.builtin.detection_params import AnchorDecoupledHeadParams
from nptrain.detection.anchors import cell_anchors, decode_cxcywh
from nptrain.layers import ConvNormAct
from nptrain.records import FeatureInfo

OBJ_LOGIT = 30.0  # sigmoid(30) rounds to exactly 1.0 in float32


class _Branch(nn.Module):
    """``conv``: the shared conv-norm-act units; ``out``: the final 3×3 conv (named as NetsPresso names it)."""

    def __init__(self, channels: int, out_channels: int, params: AnchorDecoupledHeadParams, out_name: str) -> None:
        super().__init__()
        self.conv = nn.Sequential(*(ConvNormAct(channels, channels, 3, norm=params.norm_type, act=params.act_type)
                                    for _ in range(params.num_layers)))
        self.out_name = out_name
        self.add_module(out_name, nn.Conv2d(channels, out_channels, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self, self.out_name)(self.conv(x))


class AnchorDecoupledHead(nn.Module):
    def __init__(self, params: AnchorDecoupledHeadParams, in_features: FeatureInfo, num_classes: int) -> None:
        super().__init__()
        if len(in_features) < 1 or any(f.stride is None for f in in_features.features):
            raise ValueError("anchor_decoupled_head needs feature maps with known strides")
        if len(set(in_features.channels)) != 1:
            raise ValueError(f"anchor_decoupled_head shares its convs over the levels, so every level must have "
                             f"the same width; got {list(in_features.channels)} (an fpn neck makes them equal)")
        if len(params.anchor_sizes) != len(in_features):
            raise ValueError(f"anchor_sizes has {len(params.anchor_sizes)} entries for {len(in_features)} feature "
                             f"levels: give one list of sizes per level")
        cells = [cell_anchors(sizes, params.aspect_ratios) for sizes in params.anchor_sizes]
        if len({len(c) for c in cells}) != 1:
            raise ValueError("anchor_sizes: every level needs the same number of sizes (the convs are shared)")
        self.num_anchors = len(cells[0])
        self.anchor_sizes = [list(s) for s in params.anchor_sizes]
        self.aspect_ratios = list(params.aspect_ratios)
        self.num_classes = num_classes
        self.strides = tuple(int(s) for s in in_features.strides)  # type: ignore[arg-type]
        channels = in_features.channels[0]
        self.classification_head = _Branch(channels, self.num_anchors * num_classes, params, "cls_logits")
        self.regression_head = _Branch(channels, self.num_anchors * 4, params, "bbox_reg")
        for cell_index, cell in enumerate(cells):  # per level: anchor centres and sizes (not saved: derived)
            self.register_buffer(f"cell_{cell_index}", torch.stack(
                ((cell[:, 0] + cell[:, 2]) / 2, (cell[:, 1] + cell[:, 3]) / 2,
                 cell[:, 2] - cell[:, 0], cell[:, 3] - cell[:, 1])), persistent=False)
        for module in (self.classification_head, self.regression_head):
            for layer in module.modules():  # RetinaNet's initialisation
                if isinstance(layer, nn.Conv2d):
                    nn.init.normal_(layer.weight, std=0.01)
                    if layer.bias is not None:
                        nn.init.zeros_(layer.bias)
        nn.init.constant_(self.classification_head.cls_logits.bias,
                          -math.log((1 - params.prior_prob) / params.prior_prob))

    def netspresso_keys(self, keys: Sequence[str]) -> Mapping[str, str]:
        """NetsPresso wraps each conv unit's conv and norm in a ``block`` Sequential; the rest agrees."""
        return {k: k.replace(".block.", ".") for k in keys if ".block." in k}

    def level_outputs(self, features) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per level ``(cls_logits (B, h*w*A, C), bbox_regression (B, h*w*A, 4))``, rows (y, x, anchor)."""
        out = []
        for x in features:
            cls = self.classification_head(x).unflatten(1, (self.num_anchors, self.num_classes))
            reg = self.regression_head(x).unflatten(1, (self.num_anchors, 4))
            out.append((cls.permute(0, 3, 4, 1, 2).flatten(1, 3), reg.permute(0, 3, 4, 1, 2).flatten(1, 3)))
        return out

    def forward(self, features):
        preds, cls_all, reg_all, anchors = [], [], [], []
        for i, ((cls, reg), x, stride) in enumerate(zip(self.level_outputs(features), features, self.strides)):
            cell = getattr(self, f"cell_{i}")  # (4, A): centre x, centre y, width, height
            cx, cy, w, h = cell[0], cell[1], cell[2], cell[3]  # indexed, not unpacked: fx cannot iterate
            ones = torch.ones_like(x[0, 0])  # (h, w): the grid from cumsum, no shape values needed
            gx = ((ones.cumsum(1) - 1.0) * stride).unsqueeze(-1)  # anchors sit on the cell's top-left corner
            gy = ((ones.cumsum(0) - 1.0) * stride).unsqueeze(-1)
            ax, ay = (gx + cx).flatten(), (gy + cy).flatten()  # (h*w*A,)
            aw, ah = (ones.unsqueeze(-1) * w).flatten(), (ones.unsqueeze(-1) * h).flatten()
            boxes = decode_cxcywh(reg, ax, ay, aw, ah)
            obj = torch.full_like(cls[..., :1], OBJ_LOGIT)
            preds.append(torch.cat((boxes, obj, cls), dim=-1))
            if self.training:
                cls_all.append(cls)
                reg_all.append(reg)
                anchors.append(torch.stack((ax - aw / 2, ay - ah / 2, ax + aw / 2, ay + ah / 2), dim=1))
        pred = torch.cat(preds, dim=1)
        if self.training:
            return {"pred": pred, "cls_logits": torch.cat(cls_all, dim=1),
                    "bbox_regression": torch.cat(reg_all, dim=1), "anchors": torch.cat(anchors, dim=0)}
        return pred


def build(params: AnchorDecoupledHeadParams, in_features: FeatureInfo, num_classes: int,
          task: str) -> AnchorDecoupledHead:
    return AnchorDecoupledHead(params, in_features, num_classes)
