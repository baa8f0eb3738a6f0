"""MetaFormer blocks (see the MetaFormer notes in the seeds): ``x + mixer(norm1(x))`` then
``x + mlp(norm2(x))``, optionally with layer scale and stochastic depth.

Families plug in their own token mixer (self-attention, pooling, conv) and norms; the block is
shared so compression and export treat every family alike.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from nptrain.layers.common import DropPath, LayerScale, make_activation


class Mlp(nn.Module):
    """Channel MLP ``fc1 → act → drop → fc2 → drop``; ``conv=True`` uses 1×1 convs on NCHW maps."""

    def __init__(self, dim: int, hidden_dim: int, out_dim: Optional[int] = None, act: str = "gelu",
                 drop: float = 0.0, conv: bool = False, bias: bool = True) -> None:
        super().__init__()
        out_dim = out_dim or dim
        layer = (lambda i, o: nn.Conv2d(i, o, 1, bias=bias)) if conv else (lambda i, o: nn.Linear(i, o, bias=bias))
        self.fc1 = layer(dim, hidden_dim)
        self.act = make_activation(act)
        self.drop1 = nn.Dropout(drop)
        self.fc2 = layer(hidden_dim, out_dim)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop2(self.fc2(self.drop1(self.act(self.fc1(x)))))


class MultiHeadSelfAttention(nn.Module):
    """Self-attention over tokens ``(B, N, C)`` with a fused ``qkv`` projection.

    Head count and head dim are kept as attributes (not read from tensor shapes) so the module
    traces with ``torch.fx``; reshapes use ``-1`` for the token axis so pruning can change widths.
    """

    def __init__(self, dim: int, num_heads: int, head_dim: Optional[int] = None, qkv_bias: bool = True,
                 attn_drop: float = 0.0, proj_drop: float = 0.0) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = head_dim or dim // num_heads
        inner = self.num_heads * self.head_dim
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, inner * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(inner, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        qkv = self.qkv(x).reshape(b, -1, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        # the fused kernel is faster and lighter than softmax(q k^T) v written out, and it
        # traces with fx and exports to ONNX as well
        drop = self.attn_drop.p if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, scale=self.scale)
        out = out.transpose(1, 2).reshape(b, -1, self.num_heads * self.head_dim)
        return self.proj_drop(self.proj(out))


class MetaFormerBlock(nn.Module):
    """``x = x + ls1(mixer(norm1(x)))``; ``x = x + ls2(mlp(norm2(x)))`` with optional drop path.

    ``layer_scale_init=None`` disables layer scale. ``channel_dim`` says where channels live
    (``-1`` for tokens, ``1`` for NCHW maps) for the layer scale.
    """

    def __init__(self, token_mixer: nn.Module, mlp: nn.Module, norm1: nn.Module, norm2: nn.Module,
                 dim: int, layer_scale_init: Optional[float] = None, drop_path: float = 0.0,
                 channel_dim: int = -1) -> None:
        super().__init__()
        self.norm1 = norm1
        self.token_mixer = token_mixer
        self.norm2 = norm2
        self.mlp = mlp
        use_ls = layer_scale_init is not None
        self.ls1 = LayerScale(dim, layer_scale_init, channel_dim) if use_ls else nn.Identity()
        self.ls2 = LayerScale(dim, layer_scale_init, channel_dim) if use_ls else nn.Identity()
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.ls1(self.token_mixer(self.norm1(x))))
        return x + self.drop_path(self.ls2(self.mlp(self.norm2(x))))
