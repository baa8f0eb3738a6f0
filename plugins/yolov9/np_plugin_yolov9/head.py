"""``yolo_detection_head`` (YOLOv9's anchor-free head, NetsPresso Trainer's ``version: v9``) with in-model decoding.

Per level (``heads.<i>``, NetsPresso's names): a box branch ``reg_convs`` (two 3×3 conv-norm-acts, the second and
the final 1×1 in 4 groups with ``use_group``) predicting, for each side (left, top, right, bottom), logits over
``reg_max`` distance bins; and a class branch ``cls_convs``. The raw map is ``cat(box bins, class logits)``, side
major (channel ``side * reg_max + bin``), as NetsPresso returns it.

Decoding (distribution focal loss's): a side's distance is the softmax-weighted mean bin, in strides, measured from
the cell centre ``(col + 0.5) * stride``. NetsPresso saves the bin values as a frozen ``anchor2vec`` Conv3d weight
(``0, 1, …, reg_max - 1``); it is kept so its checkpoints load and count the same, and decoding uses the same fixed
values its post-processor uses.

Output, eval mode: the detection contract every head here keeps, one ``(B, N, 5 + num_classes)`` tensor over all
levels (finest first, row-major), rows ``[cx, cy, w, h, obj, cls…]`` in pixels. YOLOv9 has no objectness: ``obj`` is
a constant logit whose sigmoid is exactly 1.0 in float32, so a row's score is its class probability, as NetsPresso's
decoder takes it. The grids come from ``cumsum`` over each level's map (fx-traceable, exportable for any size).

Training mode returns ``{"pred": <the same>, "cls_logits": (B, N, C), "bins": (B, N, 4, reg_max),
"anchors": (N, 3) [x_centre, y_centre, stride]}``: what ``yolov9_loss`` assigns and trains.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from nptrain.records import FeatureInfo

from np_plugin_yolov9.blocks import conv
from np_plugin_yolov9.params import YOLODetectionHeadParams

OBJ_LOGIT = 30.0  # sigmoid(30) rounds to exactly 1.0 in float32


class BinValues(nn.Module):
    """NetsPresso's ``anchor2vec``: the bin values as a frozen 1×1×1 Conv3d weight (kept for its checkpoints)."""

    def __init__(self, reg_max: int) -> None:
        super().__init__()
        self.anchor2vec = nn.Conv3d(reg_max, 1, 1, bias=False)
        self.anchor2vec.weight.requires_grad_(False)
        with torch.no_grad():
            self.anchor2vec.weight.copy_(torch.arange(reg_max, dtype=torch.float32).view(1, reg_max, 1, 1, 1))


class Detection(nn.Module):
    """One level's box and class branches (NetsPresso's widths: the box branch at least ``4 * reg_max`` wide, the
    class branch at least ``min(2 * num_classes, 128)``)."""

    def __init__(self, cin: int, hidden: int, num_classes: int, p: YOLODetectionHeadParams) -> None:
        super().__init__()
        groups = 4 if p.use_group else 1
        reg_channels = 4 * p.reg_max
        reg_hidden = max(-(-(hidden // 4) // groups) * groups, reg_channels, p.reg_max)
        cls_hidden = max(hidden, min(num_classes * 2, 128))
        self.reg_convs = nn.Sequential(conv(cin, reg_hidden, 3, act=p.act_type),
                                       conv(reg_hidden, reg_hidden, 3, act=p.act_type, groups=groups),
                                       nn.Conv2d(reg_hidden, reg_channels, 1, groups=groups))
        self.cls_convs = nn.Sequential(conv(cin, cls_hidden, 3, act=p.act_type),
                                       conv(cls_hidden, cls_hidden, 3, act=p.act_type),
                                       nn.Conv2d(cls_hidden, num_classes, 1))
        self.anchor2vec = BinValues(p.reg_max)
        prior = -math.log((1 - p.prior_prob) / p.prior_prob)
        nn.init.constant_(self.reg_convs[-1].bias, prior)
        nn.init.constant_(self.cls_convs[-1].bias, prior)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.reg_convs(x), self.cls_convs(x)), dim=1)


class YOLODetectionHead(nn.Module):
    def __init__(self, params: YOLODetectionHeadParams, in_features: FeatureInfo, num_classes: int) -> None:
        super().__init__()
        if len(in_features) < 1 or any(f.stride is None for f in in_features.features):
            raise ValueError("yolo_detection_head needs feature maps with known strides")
        hidden = in_features.channels[0]
        self.heads = nn.ModuleList(Detection(c, hidden, num_classes, params) for c in in_features.channels)
        self.strides = tuple(int(s) for s in in_features.strides)  # type: ignore[arg-type]
        self.num_classes = num_classes
        self.reg_max = params.reg_max
        self.register_buffer("bin_values", torch.arange(params.reg_max, dtype=torch.float32), persistent=False)

    def raw_levels(self, features) -> list[torch.Tensor]:
        """Each level's raw map ``(B, 4 * reg_max + C, h, w)``, finest first: what NetsPresso's head returns."""
        return [head(x) for head, x in zip(self.heads, features)]

    def forward(self, features):
        preds, classes, bins, anchors = [], [], [], []
        r = self.reg_max
        for stride, raw in zip(self.strides, self.raw_levels(features)):
            logits = raw[:, : 4 * r].unflatten(1, (4, r))  # (B, 4, R, h, w)
            dist = (logits.softmax(dim=2) * self.bin_values.view(1, 1, r, 1, 1)).sum(dim=2) * stride
            ones = torch.ones_like(raw[0, 0])  # (h, w): grid indices from cumsum, no shape values needed
            ax = (ones.cumsum(1) - 0.5) * stride  # cell centres
            ay = (ones.cumsum(0) - 0.5) * stride
            left, top, right, bottom = dist.unbind(dim=1)
            box = torch.stack((ax + (right - left) / 2, ay + (bottom - top) / 2, left + right, top + bottom), dim=1)
            cls = raw[:, 4 * r:]
            obj = torch.full_like(cls[:, :1], OBJ_LOGIT)
            preds.append(torch.cat((box, obj, cls), dim=1).flatten(2))
            if self.training:
                classes.append(cls.flatten(2))
                bins.append(logits.flatten(3))  # (B, 4, R, h*w)
                anchors.append(torch.stack((ax.flatten(), ay.flatten(), ones.flatten() * stride), dim=1))
        pred = torch.cat(preds, dim=2).permute(0, 2, 1)
        if not self.training:
            return pred
        return {"pred": pred, "cls_logits": torch.cat(classes, dim=2).permute(0, 2, 1),
                "bins": torch.cat(bins, dim=3).permute(0, 3, 1, 2), "anchors": torch.cat(anchors, dim=0)}


def build(params: YOLODetectionHeadParams, in_features: FeatureInfo, num_classes: int,
          task: str) -> YOLODetectionHead:
    return YOLODetectionHead(params, in_features, num_classes)
