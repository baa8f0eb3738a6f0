"""``lightfpn`` (YOLO-FastestV2's, NetsPresso Trainer's names): the deepest map through a 1×1 conv (``conv_C3``);
the deepest map, upsampled ×2 (nearest) and concatenated with the one before it, through another (``conv_C2``).
Outputs (finer, deeper), both ``out_channels`` wide. Given more maps, it uses the two deepest."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nptrain.layers import ConvLayer
from nptrain.records import Feature, FeatureInfo

from np_plugin_yolofastest.params import LightFPNParams


class LightFPN(nn.Module):
    def __init__(self, params: LightFPNParams, in_features: FeatureInfo) -> None:
        super().__init__()
        if len(in_features) < 2:
            raise ValueError(f"lightfpn fuses two maps; the backbone returns {len(in_features)}")
        c2, c3 = in_features.channels[-2:]
        out = params.out_channels
        self.conv_C2 = ConvLayer(c2 + c3, out, 1, act="relu")
        self.conv_C3 = ConvLayer(c3, out, 1, act="relu")
        s2, s3 = in_features.strides[-2:]
        self.feature_info = FeatureInfo((Feature(out, s2), Feature(out, s3)))

    def forward(self, features):
        c2, c3 = features[-2], features[-1]
        s2 = self.conv_C2(torch.cat((F.interpolate(c3, scale_factor=2.0, mode="nearest"), c2), dim=1))
        return s2, self.conv_C3(c3)


def build(params: LightFPNParams, in_features: FeatureInfo) -> LightFPN:
    return LightFPN(params, in_features)
