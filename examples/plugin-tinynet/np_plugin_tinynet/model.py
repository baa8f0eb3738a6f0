"""The tinynet backbone: a stride-2 stem, then depthwise-separable conv stages.

fx rules kept: no Python branching on tensor shapes; widths live in attributes."""
from __future__ import annotations

from torch import nn

from nptrain.layers import ConvNormAct
from nptrain.records import Feature, FeatureInfo

from np_plugin_tinynet.params import TinynetParams, TinynetStage

DEFAULT_STAGES = [TinynetStage(channels=c) for c in (24, 32, 64, 96)]


class SeparableBlock(nn.Sequential):
    def __init__(self, cin: int, cout: int, stride: int, act: str) -> None:
        super().__init__()
        self.dw = ConvNormAct(cin, cin, 3, stride, groups=cin, act=act)
        self.pw = ConvNormAct(cin, cout, 1, act=act)


class Tinynet(nn.Module):
    def __init__(self, params: TinynetParams, stages: list[TinynetStage]) -> None:
        super().__init__()
        stages = stages or DEFAULT_STAGES
        self.stem = ConvNormAct(3, params.stem_channels, 3, 2, act=params.act_type)
        width, stride, features = params.stem_channels, 2, []
        self.stages = nn.ModuleList()
        for st in stages:
            self.stages.append(SeparableBlock(width, st.channels, st.stride, params.act_type))
            width, stride = st.channels, stride * st.stride
            features.append(Feature(width, stride))
        self.feature_info = FeatureInfo(tuple(features))

    def forward(self, x):
        x = self.stem(x)
        out = []
        for stage in self.stages:
            x = stage(x)
            out.append(x)
        return tuple(out)


def build(params: TinynetParams, stage_params: list, task: str) -> Tinynet:
    return Tinynet(params, stage_params)
