"""``simple_cnn`` backbone: a small residual CNN built into the core.

It lets the core train, test and demonstrate every feature without any plugin installed (the
quickstart uses it), and its stages expose a proper feature pyramid for dense tasks.
"""
from __future__ import annotations

import torch
from torch import nn

from nptrain.builtin.params import SimpleCNNParams, SimpleCNNStage, _default_cnn_stages
from nptrain.layers import ConvNormAct, make_activation, returned_stages
from nptrain.records import Feature, FeatureInfo


class ResidualBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int, norm: str, act: str) -> None:
        super().__init__()
        self.conv1 = ConvNormAct(in_ch, out_ch, 3, stride, norm=norm, act=act)
        self.conv2 = ConvNormAct(out_ch, out_ch, 3, 1, norm=norm, act=None)
        self.shortcut = (ConvNormAct(in_ch, out_ch, 1, stride, norm=norm, act=None)
                         if stride != 1 or in_ch != out_ch else nn.Identity())
        self.act = make_activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv2(self.conv1(x)) + self.shortcut(x))


class SimpleCNN(nn.Module):
    def __init__(self, params: SimpleCNNParams, stages: list[SimpleCNNStage]) -> None:
        super().__init__()
        stages = stages or _default_cnn_stages()
        self.stem = ConvNormAct(3, params.stem_channels, 3, 2, norm=params.norm_type, act=params.act_type)
        width, stride = params.stem_channels, 2
        self.stages = nn.ModuleList()
        features = []
        for st in stages:
            blocks = []
            for i in range(st.num_blocks):
                blocks.append(ResidualBlock(width, st.channels, st.stride if i == 0 else 1, params.norm_type, params.act_type))
                width = st.channels
            stride *= st.stride
            self.stages.append(nn.Sequential(*blocks))
            features.append(Feature(width, stride))
        self.return_idx = returned_stages(params.return_stage_idx, len(stages))
        self.feature_info = FeatureInfo(tuple(features[i] for i in self.return_idx))

    def forward(self, x: torch.Tensor):
        x = self.stem(x)
        out = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.return_idx:
                out.append(x)
        return tuple(out)


def build(params: SimpleCNNParams, stage_params: list, task: str) -> SimpleCNN:
    return SimpleCNN(params, stage_params)
