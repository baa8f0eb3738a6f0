"""``yolo_fastest_head_v2`` (YOLO-FastestV2's anchor head, NetsPresso Trainer's names) with in-model decoding.

Per level: a class branch (``cls_head.layer.<i>``: two separable 5×5 conv-norms, then ``cls_logits`` for the classes,
shared by the level's anchors, and ``obj`` for one objectness per anchor) and a box branch (``reg_head.layer.<i>``,
then ``bbox_reg``: 4 offsets per anchor). The raw map is ``(B, A, 4 + 1 + C, h, w)``, the class logits repeated
for each anchor, as NetsPresso returns it.

Decoding, ``box_coding: netspresso`` (NetsPresso Trainer's): ``cx = (sigmoid(tx) + col) * stride``,
``w = 2 * (tanh(tw / 2 - 0.549306) + 1) * anchor_w`` (that is ``4 * sigmoid(tw - ln 3) * anchor_w``: at most four
times the anchor), same for y / h, class logits as they are. ``box_coding: original`` decodes as dog-qiuqiu's
YOLO-FastestV2 (YOLOv5's rule): ``cx = (2 * sigmoid(tx) - 0.5 + col) * stride``, ``w = (2 * sigmoid(tw))^2 *
anchor_w``, and its softmax class probabilities written as logits (``logit(softmax(c))``), so the usual
``sigmoid(obj) * sigmoid(class)`` score is the original's.

Output, eval mode: the detection contract every head here keeps, one ``(B, N, 5 + num_classes)`` tensor over all
levels (finest first; within a level anchor by anchor, each row-major), rows ``[cx, cy, w, h, obj, cls…]`` with
boxes in pixels and the objectness and class logits. The grids come from ``cumsum`` over each level's map
(fx-traceable, exportable for any input size). Training mode returns ``{"pred": <the same>, "anchors": (N, 3)
[x_centre, y_centre, stride]}``, the cell centres SimOTA looks around (``yolofastest_loss``)."""
from __future__ import annotations

import math

import torch
from torch import nn

from nptrain.layers import ConvLayer
from nptrain.records import FeatureInfo

from np_plugin_yolofastest.params import YOLOFastestHeadV2Params


class SeparableConv(nn.Module):
    """Depthwise k×k conv-norm-ReLU, then a pointwise conv-norm (no activation after it: NetsPresso's
    ``no_out_act``)."""

    def __init__(self, channels: int, kernel: int) -> None:
        super().__init__()
        self.depthwise = ConvLayer(channels, channels, kernel, groups=channels, act="relu")
        self.pointwise = ConvLayer(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


def _tower(channels: int) -> nn.Sequential:
    return nn.Sequential(SeparableConv(channels, 5), SeparableConv(channels, 5))


class _ClassBranch(nn.Module):
    def __init__(self, channels: int, levels: int, num_anchors: int, num_classes: int, bias: float) -> None:
        super().__init__()
        self.layer = nn.ModuleList(_tower(channels) for _ in range(levels))
        self.cls_logits = nn.ModuleList(nn.Conv2d(channels, num_classes, 1) for _ in range(levels))
        self.obj = nn.ModuleList(nn.Conv2d(channels, num_anchors, 1) for _ in range(levels))
        for conv in (*self.cls_logits, *self.obj):
            nn.init.constant_(conv.bias, bias)


class _BoxBranch(nn.Module):
    def __init__(self, channels: int, levels: int, num_anchors: int) -> None:
        super().__init__()
        self.layer = nn.ModuleList(_tower(channels) for _ in range(levels))
        self.bbox_reg = nn.ModuleList(nn.Conv2d(channels, 4 * num_anchors, 1) for _ in range(levels))


class YOLOFastestHeadV2(nn.Module):
    def __init__(self, params: YOLOFastestHeadV2Params, in_features: FeatureInfo, num_classes: int) -> None:
        super().__init__()
        if any(f.stride is None for f in in_features.features):
            raise ValueError("yolo_fastest_head_v2 needs feature maps with known strides")
        if len(params.anchors) != len(in_features):
            raise ValueError(f"anchors has {len(params.anchors)} levels for {len(in_features)} feature maps: give "
                             "one list of [w, h, …] per level")
        if len(set(in_features.channels)) != 1:
            raise ValueError(f"yolo_fastest_head_v2 takes maps of one width (a lightfpn neck makes them equal); got "
                             f"{list(in_features.channels)}")
        channels, levels = in_features.channels[0], len(in_features)
        self.num_anchors = len(params.anchors[0]) // 2
        self.num_classes = num_classes
        self.strides = tuple(int(s) for s in in_features.strides)  # type: ignore[arg-type]
        self.original_coding = params.box_coding == "original"
        bias = -math.log((1 - params.prior_prob) / params.prior_prob)
        self.cls_head = _ClassBranch(channels, levels, self.num_anchors, num_classes, bias)
        self.reg_head = _BoxBranch(channels, levels, self.num_anchors)
        for level, sizes in enumerate(params.anchors):  # (1, A, 2, 1, 1) anchor (w, h) in pixels; derived, not saved
            self.register_buffer(f"anchor_wh_{level}", torch.tensor(sizes, dtype=torch.float32).view(1, -1, 2, 1, 1),
                                 persistent=False)

    def raw_levels(self, features) -> list[torch.Tensor]:
        """Each level's raw map ``(B, A, 4 + 1 + C, h, w)``, finest first: what NetsPresso's head returns."""
        out = []
        a = self.num_anchors
        for i, x in enumerate(features):
            cls_features = self.cls_head.layer[i](x)
            logits = self.cls_head.cls_logits[i](cls_features)
            obj = self.cls_head.obj[i](cls_features)
            reg = self.reg_head.bbox_reg[i](self.reg_head.layer[i](x))
            out.append(torch.cat((reg.unflatten(1, (a, 4)), obj.unflatten(1, (a, 1)),
                                  logits.unsqueeze(1).expand(-1, a, -1, -1, -1)), dim=2))
        return out

    def forward(self, features):
        preds, anchors = [], []
        for i, (stride, raw) in enumerate(zip(self.strides, self.raw_levels(features))):
            ones = torch.ones_like(raw[0, 0, 0])  # (h, w): grid indices from cumsum, no shape values needed
            col, row = ones.cumsum(1) - 1.0, ones.cumsum(0) - 1.0
            anchor_wh = getattr(self, f"anchor_wh_{i}")
            if self.original_coding:
                cx = (raw[:, :, 0].sigmoid() * 2.0 - 0.5 + col) * stride
                cy = (raw[:, :, 1].sigmoid() * 2.0 - 0.5 + row) * stride
                wh = (raw[:, :, 2:4].sigmoid() * 2.0) ** 2 * anchor_wh
                scores = torch.logit(raw[:, :, 5:].softmax(dim=2), eps=1e-7)
            else:
                cx = (raw[:, :, 0].sigmoid() + col) * stride
                cy = (raw[:, :, 1].sigmoid() + row) * stride
                wh = 2.0 * (torch.tanh(raw[:, :, 2:4] / 2 - 0.549306) + 1.0) * anchor_wh
                scores = raw[:, :, 5:]
            out = torch.cat((cx.unsqueeze(2), cy.unsqueeze(2), wh, raw[:, :, 4:5], scores), dim=2)  # (B, A, 5 + C, h, w)
            preds.append(out.permute(0, 1, 3, 4, 2).flatten(1, 3))
            if self.training:
                centre = torch.stack(((col + 0.5).flatten(), (row + 0.5).flatten(), ones.flatten()), dim=1) * stride
                anchors.append(centre.repeat(self.num_anchors, 1))
        pred = torch.cat(preds, dim=1)
        if self.training:
            return {"pred": pred, "anchors": torch.cat(anchors, dim=0)}
        return pred


def build(params: YOLOFastestHeadV2Params, in_features: FeatureInfo, num_classes: int,
          task: str) -> YOLOFastestHeadV2:
    return YOLOFastestHeadV2(params, in_features, num_classes)
