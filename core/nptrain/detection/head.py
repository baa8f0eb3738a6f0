"""``anchor_free_decoupled_head`` (YOLOX head) with in-model box decoding.

Per level: a 1×1 stem to the hidden width, then two 3×3-conv branches: one ends in the class
logits, the other in the 4 box offsets and the objectness logit (decoupling them is what lets
YOLOX's classification and localisation converge faster than a shared branch).

Output, eval mode: one tensor ``(B, N, 5 + num_classes)`` concatenated over levels (finest first,
row-major within a level), rows ``[cx, cy, w, h, obj, cls…]``. Boxes are decoded here exactly as
YOLOX decodes them: ``cx = (col + dx) * stride``, ``w = exp(dw) * stride`` (same for y/h), so a zero
offset points at the cell's top-left corner, not its centre. Released YOLOX weights were trained with
that grid; a ``+ 0.5`` would shift every converted box by half a stride. Post-processing and exported
models need no grid knowledge. The grids come from ``cumsum`` over a ones-like slice of each level's
output, which keeps the module fx-traceable and ONNX-exportable for any input size without
shape-dependent Python code.

Training mode returns ``{"pred": <the same tensor>, "anchors": (N, 3) [x_center, y_center, stride]}``
so the loss sees the exact grid without knowing the input size or the strides. The anchor points are
the cell centres ``(col + 0.5) * stride``, where YOLOX's SimOTA looks for candidates; the decoding
origin is the anchor minus half a stride.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import math

import torch
from torch import nn

from nptrain.builtin.detection_params import AnchorFreeDecoupledHeadParams
from nptrain.detection.blocks import conv, conv_bn_act
from nptrain.detection.netspresso_yolox import netspresso_yolox_keys
from nptrain.records import FeatureInfo


class DecoupledLevel(nn.Module):
    """The head for one pyramid level; returns raw ``(B, 5 + C, h, w)`` = offsets, obj, classes."""

    def __init__(self, in_ch: int, hidden: int, num_classes: int, depthwise: bool, act: str) -> None:
        super().__init__()
        self.stem = conv_bn_act(in_ch, hidden, 1, 1, act)
        self.cls_convs = nn.Sequential(conv(hidden, hidden, 3, 1, act, depthwise), conv(hidden, hidden, 3, 1, act, depthwise))
        self.reg_convs = nn.Sequential(conv(hidden, hidden, 3, 1, act, depthwise), conv(hidden, hidden, 3, 1, act, depthwise))
        self.cls_pred = nn.Conv2d(hidden, num_classes, 1)
        self.reg_pred = nn.Conv2d(hidden, 4, 1)
        self.obj_pred = nn.Conv2d(hidden, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        r = self.reg_convs(x)
        return torch.cat((self.reg_pred(r), self.obj_pred(r), self.cls_pred(self.cls_convs(x))), dim=1)


class AnchorFreeDecoupledHead(nn.Module):
    def __init__(self, params: AnchorFreeDecoupledHeadParams, in_features: FeatureInfo, num_classes: int) -> None:
        super().__init__()
        if len(in_features) < 1 or any(f.stride is None for f in in_features.features):
            raise ValueError("anchor_free_decoupled_head needs feature maps with known strides")
        hidden = in_features.channels[0]
        self.levels = nn.ModuleList(DecoupledLevel(c, hidden, num_classes, params.depthwise, params.act_type)
                                    for c in in_features.channels)
        self.strides = tuple(int(s) for s in in_features.strides)  # type: ignore[arg-type]
        self.num_classes = num_classes
        # start every location at a low objectness/class probability so the many background
        # anchors do not swamp the first updates (focal-loss style prior)
        bias = -math.log((1 - params.prior_prob) / params.prior_prob)
        for level in self.levels:
            nn.init.constant_(level.cls_pred.bias, bias)
            nn.init.constant_(level.obj_pred.bias, bias)

    def netspresso_keys(self, keys: Sequence[str]) -> Mapping[str, str]:
        """NetsPresso Trainer's names for this part onto ours (:mod:`nptrain.detection.netspresso_yolox`)."""
        return netspresso_yolox_keys("head", keys)

    def forward(self, features):
        preds, anchors = [], []
        for level, stride, x in zip(self.levels, self.strides, features):
            raw = level(x)  # (B, 5 + C, h, w)
            ones = torch.ones_like(raw[0, 0])  # (h, w): grid indices from cumsum, no shape values needed
            gx = (ones.cumsum(1) - 1.0) * stride  # cell corners col * stride: YOLOX's decoding grid
            gy = (ones.cumsum(0) - 1.0) * stride
            # dx * stride + col * stride equals YOLOX's (dx + col) * stride bit for bit when stride is a power of two
            cx = raw[:, 0] * stride + gx
            cy = raw[:, 1] * stride + gy
            wh = raw[:, 2:4].exp() * stride
            out = torch.cat((cx.unsqueeze(1), cy.unsqueeze(1), wh, raw[:, 4:]), dim=1)
            preds.append(out.flatten(2))
            if self.training:
                half = ones.flatten() * (0.5 * stride)  # anchor points are the cell centres (assignment geometry)
                anchors.append(torch.stack((gx.flatten() + half, gy.flatten() + half, half * 2), dim=1))
        pred = torch.cat(preds, dim=2).permute(0, 2, 1)
        if self.training:
            return {"pred": pred, "anchors": torch.cat(anchors, dim=0)}
        return pred


def build(params: AnchorFreeDecoupledHeadParams, in_features: FeatureInfo, num_classes: int,
          task: str) -> AnchorFreeDecoupledHead:
    return AnchorFreeDecoupledHead(params, in_features, num_classes)
