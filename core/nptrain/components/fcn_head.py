"""``fcn`` segmentation head: a small FCN-style classifier at the finest feature's stride.

Every input level is projected by a 1×1 conv, upsampled to the finest map and summed (so all of
a pyramid's levels, e.g. every ``fpn`` output, contribute and get gradients), then one 3×3
conv-BN-act and a 1×1 classifier. The logits stay at that stride; the task model upsamples them
to the input size.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from nptrain.builtin.params import FCNHeadParams
from nptrain.layers import ConvNormAct
from nptrain.records import FeatureInfo


class FCNHead(nn.Module):
    def __init__(self, params: FCNHeadParams, in_features: FeatureInfo, num_classes: int) -> None:
        super().__init__()
        if any(f.stride is None for f in in_features.features):
            raise ValueError("fcn needs feature maps, but the backbone returns pooled vectors")
        levels = in_features.features if params.use_all_levels else in_features.features[:1]
        c = params.intermediate_channels
        self.projections = nn.ModuleList(nn.Conv2d(f.channels, c, 1, bias=False) for f in levels)
        self.conv = ConvNormAct(c, c, 3, 1, norm="batch_norm", act=params.act_type)
        self.dropout = nn.Dropout2d(params.dropout_prob)
        self.classifier = nn.Conv2d(c, num_classes, 1)

    def forward(self, features):
        x = self.projections[0](features[0])
        for i, proj in enumerate(self.projections[1:], start=1):
            # nearest keeps the fused map cheap; the 3x3 conv after it smooths the block edges
            x = x + F.interpolate(proj(features[i]), size=x.shape[-2:], mode="nearest")
        return self.classifier(self.dropout(self.conv(x)))


def build(params: FCNHeadParams, in_features: FeatureInfo, num_classes: int, task: str) -> FCNHead:
    return FCNHead(params, in_features, num_classes)
