"""ResNet backbone (He et al.), torchvision-compatible structure (stride on the 3x3 conv, "v1.5").

Submodules are ConvNormAct (``conv``/``norm``/``act``) so pruning tools see conv→norm pairs, and
forward has no shape-dependent control flow (fx-traceable)."""
from __future__ import annotations

import re
from typing import Mapping, Sequence

import torch
from torch import nn

from nptrain.layers import ConvNormAct, make_activation, returned_stages
from nptrain.records import Feature, FeatureInfo

from np_plugin_resnet.params import ResNetParams, ResNetStage, default_stages


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, width: int, stride: int, dilation: int, shortcut: bool, norm: str) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = ConvNormAct(cin, width, 3, stride, dilation=dilation, norm=norm)
        self.conv2 = ConvNormAct(width, cout, 3, 1, dilation=dilation, norm=norm, act=None)
        self.shortcut = ConvNormAct(cin, cout, 1, stride, norm=norm, act=None) if shortcut else nn.Identity()
        self.act = make_activation("relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv2(self.conv1(x)) + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int, dilation: int, shortcut: bool, norm: str) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = ConvNormAct(cin, width, 1, norm=norm)
        self.conv2 = ConvNormAct(width, width, 3, stride, dilation=dilation, norm=norm)
        self.conv3 = ConvNormAct(width, cout, 1, norm=norm, act=None)
        self.shortcut = ConvNormAct(cin, cout, 1, stride, norm=norm, act=None) if shortcut else nn.Identity()
        self.act = make_activation("relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv3(self.conv2(self.conv1(x))) + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, params: ResNetParams, stages: list[ResNetStage]) -> None:
        super().__init__()
        stages = stages or default_stages(params.block_type)
        block = Bottleneck if params.block_type == "bottleneck" else BasicBlock
        norm = params.norm_type
        if params.split_stem_conv:
            self.stem = nn.Sequential(ConvNormAct(3, 32, 3, 2, norm=norm), ConvNormAct(32, 32, 3, 1, norm=norm),
                                      ConvNormAct(32, 64, 3, 1, norm=norm))
        else:
            self.stem = ConvNormAct(3, 64, 7, 2, norm=norm)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.return_idx = returned_stages(params.return_stage_idx, len(stages))
        cin, stride_total, dilation = 64, 4, 1
        self.layers = nn.ModuleList()
        features = []
        # stages after the last returned one would get no gradient: they are not built
        for i, st in enumerate(stages[: self.return_idx[-1] + 1]):
            stride, prev_dilation = (1 if i == 0 else 2), dilation
            blocks: list[nn.Module] = []
            if stride == 2 and st.replace_stride_with_pooling:
                blocks.append(nn.MaxPool2d(2, 2))
                stride_total, stride = stride_total * 2, 1
            elif stride == 2 and st.replace_stride_with_dilation:
                dilation, prev_dilation, stride = dilation * 2, dilation, 1
            else:
                stride_total *= stride
            for j in range(st.num_blocks):
                shortcut = j == 0 and (stride != 1 or cin != st.channels * block.expansion
                                       or (i == 0 and params.first_stage_shortcut_conv))
                # as torchvision: the first block of a dilated stage keeps the previous dilation
                blocks.append(block(cin, st.channels, stride if j == 0 else 1, prev_dilation if j == 0 else dilation,
                                    shortcut, norm))
                cin = st.channels * block.expansion
            self.layers.append(nn.Sequential(*blocks))
            features.append(Feature(cin, stride_total))
        self.feature_info = FeatureInfo(tuple(features[k] for k in self.return_idx))

    def netspresso_keys(self, keys: Sequence[str]) -> Mapping[str, str]:
        """NetsPresso Trainer's ResNet names (``conv1.block.conv``, ``stages.S.B.conv2.block.norm``,
        ``downsample.block``) onto ours (``stem.conv``, ``layers.S.B.conv2.norm``, ``shortcut``); see
        :mod:`nptrain.netspresso_weights`."""
        out = {}
        for key in keys:
            if key.startswith("conv1.block."):
                out[key] = "stem." + key[len("conv1.block."):]
            m = re.fullmatch(r"stages\.(\d+)\.(\d+)\.(conv\d|downsample)\.block\.(.+)", key)
            if m:
                stage, block, part, rest = m.groups()
                out[key] = f"layers.{stage}.{block}.{'shortcut' if part == 'downsample' else part}.{rest}"
        return out

    def forward(self, x: torch.Tensor):
        x = self.maxpool(self.stem(x))
        out = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i in self.return_idx:
                out.append(x)
        return tuple(out)


def build(params: ResNetParams, stage_params: list, task: str) -> ResNet:
    return ResNet(params, stage_params)
