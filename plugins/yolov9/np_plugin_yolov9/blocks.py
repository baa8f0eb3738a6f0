"""GELAN's blocks (Wang et al., "YOLOv9: Learning What You Want to Learn Using Programmable Gradient Information",
2024), module names as NetsPresso Trainer 1.4.1 saves them so its checkpoints load key for key.

Every BatchNorm here uses eps 1e-3 (YOLOv9's and NetsPresso's: both set it after building). No forward has
shape-dependent control flow (fx-traceable, exportable)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from nptrain.layers import ConvLayer, make_activation

EPS = 1e-3


def conv(cin: int, cout: int, kernel: int = 1, stride: int = 1, act: Optional[str] = "silu",
         groups: int = 1) -> ConvLayer:
    return ConvLayer(cin, cout, kernel, stride, groups=groups, act=act, eps=EPS)


class RepConv(nn.Module):
    """RepVGG block: a 3×3 conv-norm and a 1×1 conv-norm (and, with ``use_identity``, a BatchNorm of the input)
    summed, then the activation; the branches fold into one 3×3 conv for deployment."""

    def __init__(self, cin: int, cout: int, act: str, use_identity: bool) -> None:
        super().__init__()
        self.conv1 = conv(cin, cout, 3, act=None)
        self.conv2 = conv(cin, cout, 1, act=None)
        if use_identity and cin == cout:
            self.rbr_identity = nn.BatchNorm2d(cin, eps=EPS)
        self.act = make_activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(x) + self.conv2(x)
        if hasattr(self, "rbr_identity"):
            y = y + self.rbr_identity(x)
        return self.act(y)


class RepNBottleneck(nn.Module):
    """RepConv then a 3×3 conv, with a residual (the widths always agree inside RepNCSP)."""

    def __init__(self, channels: int, act: str, use_identity: bool) -> None:
        super().__init__()
        self.conv1 = RepConv(channels, channels, act, use_identity)
        self.conv2 = conv(channels, channels, 3, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.conv1(x))


class RepNCSP(nn.Module):
    """CSP stage: half the width through ``depth`` RepN bottlenecks, half through a 1×1 conv, concatenated."""

    def __init__(self, cin: int, cout: int, depth: int, act: str, use_identity: bool) -> None:
        super().__init__()
        hidden = cout // 2
        self.conv1 = conv(cin, hidden, act=act)
        self.conv2 = conv(cin, hidden, act=act)
        self.m = nn.Sequential(*(RepNBottleneck(hidden, act, use_identity) for _ in range(depth)))
        self.conv3 = conv(2 * hidden, cout, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(torch.cat((self.m(self.conv1(x)), self.conv2(x)), dim=1))


class ELAN(nn.Module):
    """A 1×1 conv to ``part`` channels split in two halves; the second half through two chained units (a 3×3 conv,
    or with ``depth`` a RepNCSP stage then a 3×3 conv); all four maps concatenated into a 1×1 conv."""

    # torch-pruning 1.6 maps pruned channels wrongly through chunk -> (identity, conv) -> cat (measured: an index
    # past the BatchNorm's width), so the split conv keeps all its channels; everything after it is pruned (and
    # maps right: tests/test_yolov9.py prunes models with dead channels and gets the same outputs)
    prune_keep_whole = ("conv1",)

    def __init__(self, cin: int, cout: int, part: int, act: str, depth: Optional[int] = None,
                 use_identity: bool = False) -> None:
        super().__init__()
        process = part // 2
        self.conv1 = conv(cin, part, act=act)
        if depth is None:
            self.conv2 = conv(part // 2, process, 3, act=act)
            self.conv3 = conv(process, process, 3, act=act)
        else:
            self.conv2 = nn.Sequential(RepNCSP(part // 2, process, depth, act, use_identity),
                                       conv(process, process, 3, act=act))
            self.conv3 = nn.Sequential(RepNCSP(process, process, depth, act, use_identity),
                                       conv(process, process, 3, act=act))
        self.conv4 = conv(part + 2 * process, cout, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = self.conv1(x).chunk(2, dim=1)
        x3 = self.conv2(x2)
        x4 = self.conv3(x3)
        return self.conv4(torch.cat((x1, x2, x3, x4), dim=1))


class AConv(nn.Module):
    """2×2 average pool (stride 1), then a stride-2 3×3 conv."""

    def __init__(self, cin: int, cout: int, act: str) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.AvgPool2d(2, 1), conv(cin, cout, 3, 2, act=act))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class _Pool(nn.Module):
    """A pooling layer under ``pool`` (NetsPresso's Pool2d wrapper; no parameters)."""

    def __init__(self, pool: nn.Module) -> None:
        super().__init__()
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x)


class ADown(nn.Module):
    """2×2 average pool (stride 1), then one half of the channels through a stride-2 3×3 conv and the other through
    a stride-2 3×3 max pool and a 1×1 conv, concatenated."""

    def __init__(self, cin: int, cout: int, act: str) -> None:
        super().__init__()
        self.avg_pool = _Pool(nn.AvgPool2d(2, 1))
        self.conv1 = conv(cin // 2, cout // 2, 3, 2, act=act)
        self.max_pool = _Pool(nn.MaxPool2d(3, 2, 1))
        self.conv2 = conv(cin // 2, cout // 2, 1, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = self.avg_pool(x).chunk(2, dim=1)
        return torch.cat((self.conv1(x1), self.conv2(self.max_pool(x2))), dim=1)


class SPPELAN(nn.Module):
    """A 1×1 conv to ``hidden`` channels, three chained 5×5 max pools (stride 1), the four maps concatenated into a
    1×1 conv: spatial pyramid pooling as one ELAN."""

    def __init__(self, cin: int, cout: int, act: str, hidden: Optional[int] = None) -> None:
        super().__init__()
        hidden = hidden or cout // 2
        self.conv1 = conv(cin, hidden, act=act)
        self.pools = nn.ModuleList(nn.MaxPool2d(5, 1, 2) for _ in range(3))
        self.conv5 = conv(4 * hidden, cout, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [self.conv1(x)]
        for pool in self.pools:
            features.append(pool(features[-1]))
        return self.conv5(torch.cat(features, dim=1))
