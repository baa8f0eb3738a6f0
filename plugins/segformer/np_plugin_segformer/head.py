"""``all_mlp_decoder``: SegFormer's all-MLP decode head, usable after any multi-scale backbone.

Every feature is projected to ``intermediate_channels`` by a per-token Linear (a 1x1 projection,
kept as ``nn.Linear`` so checkpoints load unchanged), upsampled to the first feature's size,
concatenated deepest-first (the original order: the fuse conv's input channels depend on it),
fused by 1x1 conv + BN + ReLU and classified by a 1x1 conv. Logits come at the first feature's
stride; the segmentation task model upsamples them to the input size.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nptrain.layers import ConvNormAct
from nptrain.records import FeatureInfo

from np_plugin_segformer.params import AllMLPDecoderParams


class AllMLPDecoder(nn.Module):
    def __init__(self, params: AllMLPDecoderParams, in_features: FeatureInfo, num_classes: int) -> None:
        super().__init__()
        if len(in_features) < 1 or any(f.stride is None for f in in_features.features):
            raise ValueError("all_mlp_decoder needs feature maps (every feature with a stride), got "
                             f"strides {in_features.strides}")
        dim = params.intermediate_channels
        self.linear_c = nn.ModuleList(nn.Linear(c, dim) for c in in_features.channels)
        self.linear_fuse = ConvNormAct(dim * len(in_features), dim, 1, norm="batch_norm", act="relu")
        self.dropout = nn.Dropout(params.classifier_dropout_prob)
        self.classifier = nn.Conv2d(dim, num_classes, 1)

    def forward(self, features):
        size = features[0].shape[-2:]
        projected = []
        for feature, proj in zip(features, self.linear_c):
            y = proj(feature.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
            projected.append(F.interpolate(y, size=size, mode="bilinear", align_corners=False))
        x = self.linear_fuse(torch.cat(projected[::-1], dim=1))
        return self.classifier(self.dropout(x))


def build(params: AllMLPDecoderParams, in_features: FeatureInfo, num_classes: int, task: str) -> AllMLPDecoder:
    return AllMLPDecoder(params or AllMLPDecoderParams(), in_features, num_classes)
