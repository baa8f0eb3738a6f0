"""MixNet backbone (Tan & Le, "MixConv: Mixed Depthwise Convolutional Kernels", 2019) in NetsPresso Trainer's
layout.

Module names follow the state dict NetsPresso Trainer 1.4.1 saves (``mod1.block.conv``, ``stages.S.I``
blocks with ``expansion`` / ``depth_wise`` / ``se_block`` / ``point_wise``, grouped convs as
``group_point_wise.G`` and ``mixed_depth_wise.K``), so its checkpoints load key for key. A grouped or mixed
conv splits its input channels by its convs' widths (``torch.split``: equal as built, unequal after structured
pruning; fx-traceable) and concatenates the per-part outputs. Block BatchNorms use eps 1e-3 as the original; the stem's and the final
1x1 conv's use 1e-5 (NetsPresso's ConvLayer)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from nptrain.layers import ConvLayer, make_activation, returned_stages
from nptrain.records import Feature, FeatureInfo

from np_plugin_mixnet.params import MixNetParams, MixNetStage
from np_plugin_mixnet.presets import SMALL

BLOCK_EPS = 1e-3
LAST_CHANNELS = 1536


def make_divisible(value: float, divisor: int = 8) -> int:
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * value else new


def round_filters(filters: int, width: float) -> int:
    return filters if width == 1.0 else int(make_divisible(filters * width))


def round_repeats(repeats: int, depth: float) -> int:
    return repeats if depth == 1.0 else int(math.ceil(depth * repeats))


def _per_part(x: torch.Tensor, convs: nn.ModuleList) -> torch.Tensor:
    """Each conv on its own consecutive slice of ``x``'s channels (as wide as the conv's input), concatenated."""
    if len(convs) == 1:
        return convs[0](x)
    # split by each conv's own width (equal as built); indexed, not zipped: under fx the parts are one proxy,
    # which cannot be iterated
    parts = torch.split(x, [conv.in_channels for conv in convs], dim=1)
    return torch.cat([conv(parts[i]) for i, conv in enumerate(convs)], dim=1)


class GroupedPointwise(nn.Module):
    """1x1 conv in ``groups`` independent parts over equal channel chunks (``group_point_wise.G``)."""

    def __init__(self, cin: int, cout: int, groups: int) -> None:
        super().__init__()
        if cin % groups or cout % groups:
            raise ValueError(f"a grouped 1x1 conv of {cin} -> {cout} channels cannot be split into {groups} groups")
        self.group_point_wise = nn.ModuleList(nn.Conv2d(cin // groups, cout // groups, 1, bias=False)
                                              for _ in range(groups))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _per_part(x, self.group_point_wise)


class MixedDepthwise(nn.Module):
    """Depthwise conv whose equal channel chunks each get their own kernel size (``mixed_depth_wise.K``)."""

    def __init__(self, channels: int, kernel_sizes: list[int], stride: int) -> None:
        super().__init__()
        if channels % len(kernel_sizes):
            raise ValueError(f"{channels} channels cannot be split equally among kernel sizes {kernel_sizes}")
        width = channels // len(kernel_sizes)
        self.mixed_depth_wise = nn.ModuleList(nn.Conv2d(width, width, k, stride, (k - 1) // 2, groups=width, bias=False)
                                              for k in kernel_sizes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _per_part(x, self.mixed_depth_wise)


class ConvNormActNamed(nn.Sequential):
    """``conv`` / ``norm`` / ``act`` around a custom conv module (the original's OrderedDict Sequential)."""

    def __init__(self, conv: nn.Module, channels: int, act: str | None) -> None:
        super().__init__()
        self.conv = conv
        self.norm = nn.BatchNorm2d(channels, eps=BLOCK_EPS)
        if act is not None:
            self.act = make_activation(act)


class SqueezeExcitation(nn.Module):
    """Global average → 1x1 ``fc1`` → the block's activation → 1x1 ``fc2`` → sigmoid, scaling the channels."""

    def __init__(self, channels: int, squeeze: int, act: str) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.act = make_activation(act)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.fc2(self.act(self.fc1(self.pool(x)))))


class MixBlock(nn.Module):
    def __init__(self, cin: int, cout: int, expansion: int, exp_groups: int, kernels: list[int], poi_groups: int,
                 stride: int, se_ratio, act: str, dropout: float) -> None:
        super().__init__()
        hidden = cin * expansion
        if expansion != 1:
            self.expansion = ConvNormActNamed(GroupedPointwise(cin, hidden, exp_groups), hidden, act)
        self.depth_wise = ConvNormActNamed(MixedDepthwise(hidden, kernels, stride), hidden, act)
        if se_ratio is not None and se_ratio > 1:
            self.se_block = SqueezeExcitation(hidden, max(1, int(cin / se_ratio)), act)
        self.point_wise = ConvNormActNamed(GroupedPointwise(hidden, cout, poi_groups), cout, None)
        self.residual = cin == cout and stride == 1
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.expansion(x) if hasattr(self, "expansion") else x
        out = self.depth_wise(out)
        if hasattr(self, "se_block"):
            out = self.se_block(out)
        out = self.point_wise(out)
        if not self.residual:
            return out
        if self.dropout:  # the original drops whole channels of the residual branch in training
            out = F.dropout2d(out, self.dropout, self.training)
        return out + x


class MixNet(nn.Module):
    # torch-pruning 1.6 maps pruned channels to the wrong parts through split -> conv -> cat (measured: a
    # grouped projection's parts swapped), so `nptrain compress` says so in one line instead of breaking it
    prune_refusal = ("MixNet splits channels among mixed-kernel and grouped convs, which structured pruning "
                     "does not map correctly yet")

    def __init__(self, params: MixNetParams, stages: list[MixNetStage], task: str) -> None:
        super().__init__()
        stages = stages or [MixNetStage(**s) for s in SMALL]  # no stage_params: MixNet-S's
        width = params.wid_mul
        cin = round_filters(params.stem_channels, width)
        self.mod1 = ConvLayer(3, cin, 3, 2, act="relu")
        self.return_idx = returned_stages(params.return_stage_idx, len(stages))
        built, features, stride_total = [], [], 2
        for s, stage in enumerate(stages):
            blocks: list[nn.Module] = []
            for e, c, n, k, eg, pg, st, a, se in stage.groups():
                cout = round_filters(c, width)
                for i in range(round_repeats(n, params.dep_mul)):
                    blocks.append(MixBlock(cin, cout, e, eg, list(k), pg, st if i == 0 else 1, se, a,
                                           params.dropout_rate))
                    cin = cout
                stride_total *= st
            if s == len(stages) - 1:  # a 1x1 conv to 1536 channels closes the network, as the original
                blocks.append(ConvLayer(cin, LAST_CHANNELS, 1, act="relu"))
                cin = LAST_CHANNELS
            built.append(nn.Sequential(*blocks))
            features.append(Feature(cin, stride_total))
        self.stages = nn.ModuleList(built)
        self.feature_info = FeatureInfo(tuple(features[k] for k in self.return_idx))
        # classification: the original drops pooled features in training; dropping whole channels of the last
        # map before the head's pooling is the same draw (a pooled channel is zero or rescaled alike)
        self.feature_dropout = params.dropout_rate if task == "classification" else 0.0
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor):
        x = self.mod1(x)
        out = []
        last = len(self.stages) - 1
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i == last and self.feature_dropout:
                x = F.dropout2d(x, self.feature_dropout, self.training)
            if i in self.return_idx:
                out.append(x)
        return tuple(out)


def build(params: MixNetParams, stage_params: list, task: str) -> MixNet:
    return MixNet(params, stage_params, task)
