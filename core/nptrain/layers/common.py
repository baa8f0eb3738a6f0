"""Small layers every family needs, written fx-traceably (no shape-dependent Python control flow)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

_ACTIVATIONS = {
    "relu": lambda: nn.ReLU(inplace=False),
    "relu6": lambda: nn.ReLU6(inplace=False),
    "gelu": lambda: nn.GELU(),
    "gelu_tanh": lambda: nn.GELU(approximate="tanh"),
    "silu": lambda: nn.SiLU(),
    "swish": lambda: nn.SiLU(),
    "hard_swish": lambda: nn.Hardswish(),
    "leaky_relu": lambda: nn.LeakyReLU(0.1),
    "sigmoid": lambda: nn.Sigmoid(),
    "identity": lambda: nn.Identity(),
}


def make_activation(name: Optional[str]) -> nn.Module:
    """Activation by config name (``relu``, ``gelu``, ``silu``…); ``None`` gives identity."""
    if name is None:
        return nn.Identity()
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(_ACTIVATIONS)}") from None


def make_norm(name: Optional[str], channels: int, eps: float = 1e-5) -> nn.Module:
    """2-d norm layer by config name: ``batch_norm``, ``group_norm`` (32 groups or fewer), ``layer_norm`` (channel-wise)."""
    if name is None:
        return nn.Identity()
    if name == "batch_norm":
        return nn.BatchNorm2d(channels, eps=eps)
    if name == "group_norm":
        groups = max(g for g in (32, 16, 8, 4, 2, 1) if channels % g == 0)
        return nn.GroupNorm(groups, channels, eps=eps)
    if name == "layer_norm":
        return nn.GroupNorm(1, channels, eps=eps)
    raise ValueError(f"unknown norm {name!r}; choose one of batch_norm, group_norm, layer_norm")


class ConvNormAct(nn.Sequential):
    """Conv2d → norm → activation, keys ``conv``/``norm``/``act`` (pruning libraries recognise the pairs)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 padding: Optional[int] = None, dilation: int = 1, groups: int = 1, bias: bool = False,
                 norm: Optional[str] = "batch_norm", act: Optional[str] = "relu", eps: float = 1e-5) -> None:
        if padding is None:
            padding = dilation * (kernel_size - 1) // 2
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias=bias)
        self.norm = make_norm(norm, out_channels, eps)
        self.act = make_activation(act)


class ConvLayer(nn.Module):
    """A :class:`ConvNormAct` under ``block``: the key prefix NetsPresso Trainer's ``ConvLayer`` saves
    (``block.conv`` / ``block.norm``), so families ported from it load its checkpoints key for key."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 groups: int = 1, norm: Optional[str] = "batch_norm", act: Optional[str] = None,
                 eps: float = 1e-5, padding: Optional[int] = None) -> None:
        super().__init__()
        self.block = ConvNormAct(in_channels, out_channels, kernel_size, stride, padding=padding, groups=groups,
                                 norm=norm, act=act, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


def returned_stages(return_stage_idx: Optional[list[int]], count: int) -> list[int]:
    """The stage indices a backbone's forward returns, sorted: ``return_stage_idx`` (0-based), or every one of
    ``count`` stages when it is None; an empty or out-of-range selection is a ValueError saying the range."""
    idx = list(range(count)) if return_stage_idx is None else list(return_stage_idx)
    if not idx or any(not 0 <= i < count for i in idx):
        raise ValueError(f"return_stage_idx {idx} must select stages 0..{count - 1}")
    return sorted(set(idx))


class DropPath(nn.Module):
    """Stochastic depth per sample; identity in eval mode and when ``p == 0``."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


class LayerScale(nn.Module):
    """Learnable per-channel scale; ``channel_dim=-1`` for tokens, ``1`` for NCHW maps."""

    # structured pruning removes entries of gamma along with the channels they scale
    pruning_dims = {"gamma": 0}

    def __init__(self, dim: int, init_value: float = 1e-5, channel_dim: int = -1) -> None:
        super().__init__()
        self.gamma = nn.Parameter(init_value * torch.ones(dim))
        self.channel_dim = channel_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channel_dim == -1:
            return x * self.gamma
        return x * self.gamma.reshape(-1, 1, 1)


class ChannelSum(nn.Module):
    """``x.sum(dim=1, keepdim=True)`` as a module.

    A reduction over channels inside a model must go through this module: channel pruning sees it as a
    layer whose input channels may shrink while its single output channel stays, instead of an
    element-wise op that would tie unrelated channel counts together."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sum(x, dim=1, keepdim=True)
