"""Building blocks of the YOLOX family (CSPDarknet, PAFPN, decoupled head), written from the
paper's description: conv-BN-act units, depthwise-separable variants, CSP layers and SPP.

BatchNorm uses ``eps=1e-3, momentum=0.03`` as YOLOX does: weights trained that way (and the
published accuracy) depend on those statistics settings.
"""
from __future__ import annotations

import torch
from torch import nn

from nptrain.layers import ConvNormAct

BN_EPS = 1e-3
BN_MOMENTUM = 0.03


def conv_bn_act(in_ch: int, out_ch: int, k: int, stride: int = 1, act: str = "silu", groups: int = 1) -> ConvNormAct:
    block = ConvNormAct(in_ch, out_ch, k, stride, groups=groups, norm="batch_norm", act=act, eps=BN_EPS)
    block.norm.momentum = BN_MOMENTUM
    return block


class DWConv(nn.Module):
    """Depthwise k×k conv-BN-act followed by a pointwise 1×1 conv-BN-act."""

    def __init__(self, in_ch: int, out_ch: int, k: int, stride: int = 1, act: str = "silu") -> None:
        super().__init__()
        self.dconv = conv_bn_act(in_ch, in_ch, k, stride, act, groups=in_ch)
        self.pconv = conv_bn_act(in_ch, out_ch, 1, 1, act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pconv(self.dconv(x))


def conv(in_ch: int, out_ch: int, k: int, stride: int = 1, act: str = "silu", depthwise: bool = False) -> nn.Module:
    """A k×k conv unit; ``depthwise`` swaps it for :class:`DWConv` (the "nano"-style variants)."""
    return DWConv(in_ch, out_ch, k, stride, act) if depthwise else conv_bn_act(in_ch, out_ch, k, stride, act)


class Bottleneck(nn.Module):
    """1×1 then 3×3 conv, with a residual add when ``shortcut`` and the widths match."""

    def __init__(self, in_ch: int, out_ch: int, shortcut: bool, expansion: float, depthwise: bool, act: str) -> None:
        super().__init__()
        hidden = int(out_ch * expansion)
        self.conv1 = conv_bn_act(in_ch, hidden, 1, 1, act)
        self.conv2 = conv(hidden, out_ch, 3, 1, act, depthwise)
        self.use_add = shortcut and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.conv1(x))
        return x + y if self.use_add else y


class CSPLayer(nn.Module):
    """Cross-stage partial layer: half the channels go through ``n`` bottlenecks, half skip them;
    the two halves are concatenated and fused by a 1×1 conv (cheaper than running all channels)."""

    def __init__(self, in_ch: int, out_ch: int, n: int, shortcut: bool = True, expansion: float = 0.5,
                 depthwise: bool = False, act: str = "silu") -> None:
        super().__init__()
        hidden = int(out_ch * expansion)
        self.conv1 = conv_bn_act(in_ch, hidden, 1, 1, act)
        self.conv2 = conv_bn_act(in_ch, hidden, 1, 1, act)
        self.conv3 = conv_bn_act(2 * hidden, out_ch, 1, 1, act)
        self.m = nn.Sequential(*(Bottleneck(hidden, hidden, shortcut, 1.0, depthwise, act) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(torch.cat((self.m(self.conv1(x)), self.conv2(x)), dim=1))


class SPPBottleneck(nn.Module):
    """Spatial pyramid pooling: stride-1 max pools of several sizes widen the receptive field of
    the deepest level at no parameter cost; their outputs are concatenated and fused."""

    def __init__(self, in_ch: int, out_ch: int, kernels: tuple[int, ...] = (5, 9, 13), act: str = "silu") -> None:
        super().__init__()
        hidden = in_ch // 2
        self.conv1 = conv_bn_act(in_ch, hidden, 1, 1, act)
        self.pools = nn.ModuleList(nn.MaxPool2d(k, stride=1, padding=k // 2) for k in kernels)
        self.conv2 = conv_bn_act(hidden * (len(kernels) + 1), out_ch, 1, 1, act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        return self.conv2(torch.cat([x] + [pool(x) for pool in self.pools], dim=1))


class Focus(nn.Module):
    """Space-to-depth stem: the four pixel phases of each 2×2 cell are stacked as channels
    (stride 2 without losing information), then a conv. Needs even input sides."""

    def __init__(self, in_ch: int, out_ch: int, k: int = 3, act: str = "silu") -> None:
        super().__init__()
        self.conv = conv_bn_act(in_ch * 4, out_ch, k, 1, act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # order: (even row, even col), (odd row, even col), (even row, odd col), (odd row, odd col)
        phases = (x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2])
        return self.conv(torch.cat(phases, dim=1))
