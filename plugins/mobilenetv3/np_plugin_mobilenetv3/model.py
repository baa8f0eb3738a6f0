"""MobileNetV3 backbone (Howard et al., "Searching for MobileNetV3", 2019) in NetsPresso Trainer's layout.

Module names follow the state dict NetsPresso Trainer 1.4.1 saves (``conv_first.block.conv``,
``stages.<s>.<b>.block.<k>``, squeeze-excitation ``fc1``/``fc2``), so its checkpoints load key for key.
BatchNorm eps is 1e-3 as in torchvision's and NetsPresso's MobileNetV3. Forward has no shape-dependent
control flow (fx-traceable)."""
from __future__ import annotations

import torch
from torch import nn

from nptrain.layers import ConvLayer, returned_stages
from nptrain.records import Feature, FeatureInfo

from np_plugin_mobilenetv3.params import MobileNetV3Params, MobileNetV3Stage
from np_plugin_mobilenetv3.presets import SMALL, stage_lists

EPS = 1e-3


def make_divisible(value: float, divisor: int = 8) -> int:
    """The nearest multiple of ``divisor`` at or above 90 % of ``value`` (MobileNet's channel rounding)."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * value else new


class SqueezeExcitation(nn.Module):
    """Global average → 1x1 ``fc1`` → ReLU → 1x1 ``fc2`` → hard-sigmoid, scaling the input's channels."""

    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.act = nn.ReLU()
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.scale = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale(self.fc2(self.act(self.fc1(self.pool(x)))))


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, kernel: int, hidden: int, cout: int, use_se: bool, act: str, stride: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        if hidden != cin:  # expansion
            layers.append(ConvLayer(cin, hidden, 1, act=act, eps=EPS))
        layers.append(ConvLayer(hidden, hidden, kernel, stride, groups=hidden, act=act, eps=EPS))  # depthwise
        if use_se:
            layers.append(SqueezeExcitation(hidden, make_divisible(hidden // 4, 8)))
        layers.append(ConvLayer(hidden, cout, 1, eps=EPS))  # projection, linear
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return out + x if self.residual else out


class MobileNetV3(nn.Module):
    def __init__(self, params: MobileNetV3Params, stages: list[MobileNetV3Stage]) -> None:
        super().__init__()
        # no stage_params: MobileNetV3-Small's (as resnet's default is ResNet-50's)
        stages = stages or [MobileNetV3Stage(**stage_lists(rows)) for rows in SMALL]
        self.conv_first = ConvLayer(3, stages[0].in_channels[0], 3, 2, act="hard_swish", eps=EPS)
        self.return_idx = returned_stages(params.return_stage_idx, len(stages))
        cin, stride_total, features = stages[0].in_channels[0], 2, []
        built: list[nn.Module] = []
        for s, stage in enumerate(stages):
            if stage.in_channels[0] != cin:
                raise ValueError(f"stage {s}: in_channels[0] {stage.in_channels[0]} must equal the previous "
                                 f"output's {cin} channels")
            blocks: list[nn.Module] = [InvertedResidual(*row) for row in stage.blocks()]
            cin = stage.out_channels[-1]
            for st in stage.stride:
                stride_total *= st
            if s == len(stages) - 1:  # the last stage ends with a 1x1 conv to 6x its width, as the original
                blocks.append(ConvLayer(cin, 6 * cin, 1, act="hard_swish", eps=EPS))
                cin = 6 * cin
            built.append(nn.Sequential(*blocks))
            features.append(Feature(cin, stride_total))
        self.stages = nn.ModuleList(built)
        self.feature_info = FeatureInfo(tuple(features[k] for k in self.return_idx))
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():  # torchvision's and NetsPresso's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor):
        x = self.conv_first(x)
        out = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.return_idx:
                out.append(x)
        return tuple(out)


def build(params: MobileNetV3Params, stage_params: list, task: str) -> MobileNetV3:
    return MobileNetV3(params, stage_params)
