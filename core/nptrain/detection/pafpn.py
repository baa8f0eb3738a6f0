"""``yolopafpn`` neck: YOLOX's path-aggregation FPN, generalised to any number (≥ 2) of levels.

Top-down: the deepest map is reduced (1×1) to the next level's width, upsampled, concatenated
with that level and fused by a CSP layer; repeated down to the finest level, which is the first
output. Bottom-up: each output is downsampled (3×3, stride 2), concatenated with the reduced map
kept from the top-down pass and fused to the next level's width. For three levels this is
exactly YOLOX's PAFPN, and the output widths equal the input widths.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from nptrain.builtin.detection_params import YOLOPAFPNParams
from nptrain.detection.blocks import CSPLayer, conv, conv_bn_act
from nptrain.detection.netspresso_yolox import netspresso_yolox_keys
from nptrain.records import FeatureInfo


class YOLOPAFPN(nn.Module):
    def __init__(self, params: YOLOPAFPNParams, in_features: FeatureInfo) -> None:
        super().__init__()
        if len(in_features) < 2 or any(f.stride is None for f in in_features.features):
            raise ValueError("yolopafpn needs at least two feature maps from the backbone")
        ch = list(in_features.channels)
        n = len(ch)
        act, dw = params.act_type, params.depthwise
        depth = max(round(3 * params.dep_mul), 1)
        # top-down: reduce[i] maps level i+1 (raw or fused) to level i's width
        self.reduce = nn.ModuleList(conv_bn_act(ch[i + 1], ch[i], 1, 1, act) for i in range(n - 1))
        self.td_fuse = nn.ModuleList(CSPLayer(2 * ch[i], ch[i], depth, shortcut=False, depthwise=dw, act=act)
                                     for i in range(n - 1))
        # bottom-up: down[i] takes output i to stride of level i+1, fuse widens to level i+1's width
        self.down = nn.ModuleList(conv(ch[i], ch[i], 3, 2, act, dw) for i in range(n - 1))
        self.bu_fuse = nn.ModuleList(CSPLayer(2 * ch[i], ch[i + 1], depth, shortcut=False, depthwise=dw, act=act)
                                     for i in range(n - 1))
        self.num_levels = n
        self.feature_info = in_features

    def netspresso_keys(self, keys: Sequence[str]) -> Mapping[str, str]:
        """NetsPresso Trainer's names for this part onto ours (:mod:`nptrain.detection.netspresso_yolox`)."""
        return netspresso_yolox_keys("neck", keys)

    def forward(self, features):
        n = self.num_levels
        cur = features[n - 1]
        reduced = [cur] * (n - 1)  # placeholders, every slot is overwritten below
        for i in range(n - 2, -1, -1):
            r = self.reduce[i](cur)
            reduced[i] = r
            # size from the skip map (not scale_factor=2) so odd-sized maps still line up
            up = F.interpolate(r, size=features[i].shape[-2:], mode="nearest")
            cur = self.td_fuse[i](torch.cat((up, features[i]), dim=1))
        outs = [cur]
        for i in range(n - 1):
            d = self.down[i](outs[-1])
            outs.append(self.bu_fuse[i](torch.cat((d, reduced[i]), dim=1)))
        return tuple(outs)


def build(params: YOLOPAFPNParams, in_features: FeatureInfo) -> YOLOPAFPN:
    return YOLOPAFPN(params, in_features)
