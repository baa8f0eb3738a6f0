"""Mix Transformer (MiT), the SegFormer encoder (Xie et al., 2021), laid out for nptrain.

Inside a stage tokens stay channels-last, ``(B, H, W, C)``: LayerNorm and the Linear layers act
on the last axis directly, the convolutions (sequence reduction, depthwise 3x3) see an NCHW view,
and each block keeps the spatial layout so the shared :class:`nptrain.layers.MetaFormerBlock`
(``x + mixer(norm1(x))``, ``x + mlp(norm2(x))``) can be used unchanged. Reshapes take sizes only
as call arguments (``x.shape[i]``) or use ``-1`` for the channel axis; head counts are stored
attributes, so the graph traces with torch.fx and structured pruning can change widths.
"""
from __future__ import annotations

import re
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from nptrain.layers import MetaFormerBlock, make_activation
from nptrain.records import FeatureInfo

from np_plugin_segformer.params import MixTransformerParams, MixTransformerStage, default_stages


class OverlapPatchEmbed(nn.Module):
    """Strided conv with ``padding = patch // 2`` (patches overlap), then LayerNorm on channels."""

    def __init__(self, in_channels: int, dim: int, patch_size: int, stride: int, eps: float) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, patch_size, stride, patch_size // 2)
        self.norm = nn.LayerNorm(dim, eps=eps)

    def forward(self, x: torch.Tensor):
        # NCHW in, (B, H, W, C) out
        return self.norm(self.proj(x).permute(0, 2, 3, 1))


class EfficientSelfAttention(nn.Module):
    """Multi-head attention whose keys/values come from a spatially reduced copy of the input.

    Queries use every token; with ``sr_ratio > 1`` a ``k = s = sr_ratio`` conv plus LayerNorm
    shrinks the key/value sequence by ``sr_ratio ** 2`` (the "efficient" part). Separate
    ``query``/``key``/``value`` projections keep the original checkpoint layout.
    """

    def __init__(self, dim: int, num_heads: int, sr_ratio: int, attn_drop: float, proj_drop: float,
                 eps: float) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.sr_ratio = sr_ratio
        if sr_ratio > 1:
            self.sr = nn.Conv2d(dim, dim, sr_ratio, sr_ratio)
            # torch's default 1e-5 in NVlabs' original, Hugging Face's and NetsPresso's alike, whatever the
            # other norms use (layer_norm_eps)
            self.norm = nn.LayerNorm(dim)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        # (B, H, W, C) -> (B, heads, N, C / heads); channels split by the stored head count
        return t.flatten(1, 2).unflatten(-1, (self.num_heads, -1)).transpose(1, 2)

    def forward(self, x: torch.Tensor):
        q = self._heads(self.query(x))
        kv = x
        if self.sr_ratio > 1:  # a constructor constant, not a tensor property: fx sees one branch
            kv = self.norm(self.sr(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1))
        k = self._heads(self.key(kv))
        v = self._heads(self.value(kv))
        # the fused kernel (scale 1/sqrt(head_dim), as the original) trains ~7% faster on CPU than
        # matmul-softmax-matmul and differs from it by float32 rounding only (bench/, docs/benchmarks.md)
        drop = self.attn_drop.p if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=drop).transpose(1, 2)  # (B, N, heads, C / heads)
        out = out.reshape(x.shape[0], x.shape[1], x.shape[2], -1)
        return self.proj_drop(self.proj(out))


class MixFFN(nn.Module):
    """``fc1 → depthwise 3x3 → act → drop → fc2 → drop``: the conv leaks position information,
    which is why MiT needs no position embedding."""

    def __init__(self, dim: int, hidden: int, act: str, drop: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = nn.Conv2d(hidden, hidden, 3, 1, 1, groups=hidden)
        self.act = make_activation(act)
        self.drop1 = nn.Dropout(drop)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x: torch.Tensor):
        h = self.dwconv(self.fc1(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return self.drop2(self.fc2(self.drop1(self.act(h))))


class MiTStage(nn.Module):
    """Patch embedding, blocks, final LayerNorm; returns a contiguous NCHW map."""

    def __init__(self, in_channels: int, stage: MixTransformerStage, params: MixTransformerParams,
                 drop_paths: list[float]) -> None:
        super().__init__()
        dim, eps = stage.attention_chananels, params.layer_norm_eps
        hidden = int(dim * params.ffn_intermediate_expansion_ratio)
        self.patch_embed = OverlapPatchEmbed(in_channels, dim, stage.embedding_patch_sizes,
                                             stage.embedding_strides, eps)
        self.blocks = nn.Sequential(*[
            MetaFormerBlock(
                token_mixer=EfficientSelfAttention(dim, stage.num_attention_heads, stage.sequence_reduction_ratio,
                                                   params.attention_dropout_prob, params.ffn_dropout_prob, eps),
                mlp=MixFFN(dim, hidden, params.ffn_act_type, params.ffn_dropout_prob),
                norm1=nn.LayerNorm(dim, eps=eps), norm2=nn.LayerNorm(dim, eps=eps), dim=dim, drop_path=dp)
            for dp in drop_paths])
        self.norm = nn.LayerNorm(dim, eps=eps)

    def forward(self, x: torch.Tensor):
        x = self.norm(self.blocks(self.patch_embed(x)))
        # contiguous NCHW: the next patch-embedding conv and the heads get a plain layout
        return x.permute(0, 3, 1, 2).contiguous()


# NetsPresso Trainer 1.x's MiT module names (inside a stage) -> ours, applied in order
_NETSPRESSO_MIT = (
    (r"^patch_embed\.layer_norm\.", "patch_embed.norm."),
    (r"^encoder\.blocks\.", "blocks."),
    (r"\.layernorm_before\.", ".norm1."),
    (r"\.layernorm_after\.", ".norm2."),
    (r"\.token_mixer\.linear\.", ".token_mixer.proj."),
    (r"\.token_mixer\.sr_layer_norm\.", ".token_mixer.norm."),
    (r"\.channel_mlp\.dense1\.", ".mlp.fc1."),
    (r"\.channel_mlp\.dwconv\.dwconv\.", ".mlp.dwconv."),
    (r"\.channel_mlp\.dense2\.", ".mlp.fc2."),
)


class MixTransformer(nn.Module):
    """MiT backbone: returns one NCHW map per stage (strides 4, 8, 16, 32 for the MiT presets)."""

    def __init__(self, params: MixTransformerParams, stage_params: list[MixTransformerStage]) -> None:
        super().__init__()
        stages = list(stage_params) or default_stages()
        depths = [s.num_blocks for s in stages]
        total = sum(depths)
        rates = [params.drop_path_rate * i / max(total - 1, 1) for i in range(total)]
        self.stages = nn.ModuleList()
        in_channels, start, stride = 3, 0, 1
        channels, strides = [], []
        for stage, depth in zip(stages, depths):
            self.stages.append(MiTStage(in_channels, stage, params, rates[start:start + depth]))
            start += depth
            in_channels = stage.attention_chananels
            stride *= stage.embedding_strides
            channels.append(in_channels)
            strides.append(stride)
        self.feature_info = FeatureInfo.of(channels, strides)

    def netspresso_keys(self, keys: Sequence[str]) -> Mapping[str, str]:
        """NetsPresso Trainer's MiT names (Hugging Face's, under ``encoder_modules.S``) onto ours; see
        :mod:`nptrain.netspresso_weights`."""
        out = {}
        for key in keys:
            m = re.fullmatch(r"encoder_modules\.(\d+)\.(.+)", key)
            if not m:
                continue
            stage, rest = m.groups()
            for theirs, ours in _NETSPRESSO_MIT:
                rest = re.sub(theirs, ours, rest)
            out[key] = f"stages.{stage}.{rest}"
        return out

    def forward(self, x: torch.Tensor):
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return tuple(features)


def build(params: MixTransformerParams, stage_params: list, task: str) -> MixTransformer:
    return MixTransformer(params or MixTransformerParams(), stage_params)
