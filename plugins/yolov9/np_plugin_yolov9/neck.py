"""``yolov9fpn``: YOLOv9's path aggregation over the backbone's three deepest maps (P3, P4, P5), NetsPresso
Trainer's module names. SPPELAN on P5; top-down, P5 upsampled and fused with P4 (``td_fusion_block_1``: N4), N4
upsampled and fused with P3 (``td_fusion_block_2``: the P3 output); bottom-up, that output stepped down
(``aconv`` / ``adown``) and fused with N4 (P4 output), and again with the SPP map (P5 output). Every fusion is a
RepNCSPELAN of depth ``repeat_num`` without the identity branch. Given more than three maps, the neck fuses the
three deepest (NetsPresso's takes exactly three)."""
from __future__ import annotations

import torch
from torch import nn

from nptrain.records import Feature, FeatureInfo

from np_plugin_yolov9.blocks import ELAN, SPPELAN, ADown, AConv
from np_plugin_yolov9.params import YOLOv9FPNParams


class YOLOv9FPN(nn.Module):
    def __init__(self, params: YOLOv9FPNParams, in_features: FeatureInfo) -> None:
        super().__init__()
        if len(in_features) < 3:
            raise ValueError(f"yolov9fpn fuses three maps (P3, P4, P5); the backbone returns {len(in_features)}: "
                             "set its return_stage_idx to three stages")
        c3, c4, c5 = in_features.channels[-3:]  # the three deepest; a shallower map is not used
        p, act = params, params.act_type
        down = AConv if p.bu_type == "aconv" else ADown

        def fuse(cin: int, cout: int) -> ELAN:
            return ELAN(cin, cout, cout, act, depth=p.repeat_num)

        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.spp_block = SPPELAN(c5, p.spp_channels, act)
        self.td_fusion_block_1 = fuse(c4 + p.spp_channels, p.n4_channels)
        self.td_fusion_block_2 = fuse(c3 + p.n4_channels, p.p3_channels)
        self.bu_conv_p3_to_p4 = down(p.p3_channels, p.p3_to_p4_channels, act)
        self.bu_fusion_block_1 = fuse(p.p3_to_p4_channels + p.n4_channels, p.p4_channels)
        self.bu_conv_p4_to_p5 = down(p.p4_channels, p.p4_to_p5_channels, act)
        self.bu_fusion_block_2 = fuse(p.p4_to_p5_channels + p.spp_channels, p.p5_channels)
        if p.bu_type == "adown" and (p.p3_channels % 2 or p.p4_channels % 2):
            raise ValueError("bu_type adown splits its input in two halves: p3_channels and p4_channels must be even")
        strides = in_features.strides[-3:]
        self.feature_info = FeatureInfo((Feature(p.p3_channels, strides[0]), Feature(p.p4_channels, strides[1]),
                                         Feature(p.p5_channels, strides[2])))

    def forward(self, features):
        p3, p4, p5 = features[-3:]
        spp = self.spp_block(p5)
        n4 = self.td_fusion_block_1(torch.cat((self.upsample(spp), p4), dim=1))
        out3 = self.td_fusion_block_2(torch.cat((self.upsample(n4), p3), dim=1))
        out4 = self.bu_fusion_block_1(torch.cat((self.bu_conv_p3_to_p4(out3), n4), dim=1))
        out5 = self.bu_fusion_block_2(torch.cat((self.bu_conv_p4_to_p5(out4), spp), dim=1))
        return out3, out4, out5


def build(params: YOLOv9FPNParams, in_features: FeatureInfo) -> YOLOv9FPN:
    return YOLOv9FPN(params, in_features)
