"""``cspdarknet`` backbone (YOLOX's CSPDarknet-53 variant).

Focus stem (stride 2), then four stages each opening with a stride-2 conv: dark2 (stride 4),
dark3 (8), dark4 (16), dark5 (32, with SPP before its CSP layer). Widths scale with ``wid_mul``
(base 64) and CSP depths with ``dep_mul`` (base 3, dark3/dark4 three times deeper), which is how
YOLOX derives nano…x from one definition. Returns dark3, dark4, dark5.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn

from nptrain.builtin.detection_params import CSPDarknetParams
from nptrain.detection.blocks import CSPLayer, Focus, SPPBottleneck, conv
from nptrain.detection.netspresso_yolox import netspresso_yolox_keys
from nptrain.records import Feature, FeatureInfo


class CSPDarknet(nn.Module):
    def __init__(self, params: CSPDarknetParams) -> None:
        super().__init__()
        act, dw = params.act_type, params.depthwise
        base = int(params.wid_mul * 64)
        depth = max(round(params.dep_mul * 3), 1)
        self.stem = Focus(3, base, 3, act)
        self.dark2 = nn.Sequential(conv(base, base * 2, 3, 2, act, dw),
                                   CSPLayer(base * 2, base * 2, depth, depthwise=dw, act=act))
        self.dark3 = nn.Sequential(conv(base * 2, base * 4, 3, 2, act, dw),
                                   CSPLayer(base * 4, base * 4, depth * 3, depthwise=dw, act=act))
        self.dark4 = nn.Sequential(conv(base * 4, base * 8, 3, 2, act, dw),
                                   CSPLayer(base * 8, base * 8, depth * 3, depthwise=dw, act=act))
        # the deepest stage has no residual shortcuts in its CSP layer (as in YOLOX)
        self.dark5 = nn.Sequential(conv(base * 8, base * 16, 3, 2, act, dw),
                                   SPPBottleneck(base * 16, base * 16, act=act),
                                   CSPLayer(base * 16, base * 16, depth, shortcut=False, depthwise=dw, act=act))
        self.feature_info = FeatureInfo.of([base * 4, base * 8, base * 16], [8, 16, 32])

    def netspresso_keys(self, keys: Sequence[str]) -> Mapping[str, str]:
        """NetsPresso Trainer's names for this part onto ours (:mod:`nptrain.detection.netspresso_yolox`)."""
        return netspresso_yolox_keys("backbone", keys)

    def forward(self, x: torch.Tensor):
        x = self.dark2(self.stem(x))
        c3 = self.dark3(x)
        c4 = self.dark4(c3)
        c5 = self.dark5(c4)
        return (c3, c4, c5)


def build(params: CSPDarknetParams, stage_params: list, task: str) -> CSPDarknet:
    return CSPDarknet(params)
