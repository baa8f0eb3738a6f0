"""MobileViT v1 in the layout of apple/ml-cvnets (``cvnets/models/classification/mobilevit.py``).

stem (3x3 s2) → five stages of MobileNetV2 inverted residual blocks and MobileViT blocks → 1x1
expansion conv. The transformer blocks inside a MobileViT block are nptrain's shared
:class:`~nptrain.layers.MetaFormerBlock` with multi-head self-attention, so compression and export
treat them like every other family's.

fx: unfolding and folding read the spatial size from the tensor only as *arguments* (reshape sizes,
``F.interpolate(size=...)``), never to branch; channels are always ``-1``. The resize to a multiple
of the patch size that ml-cvnets does only when a side is not divisible is done unconditionally here:
at an already divisible size the bilinear resize is the exact identity, so outputs equal ml-cvnets'
in both cases and one traced graph serves every input size.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from nptrain.errors import ConfigError
from nptrain.layers import ConvNormAct, MetaFormerBlock, Mlp, MultiHeadSelfAttention
from nptrain.records import Feature, FeatureInfo

from np_plugin_mobilevit.params import MobileViTParams, MobileViTStageParams, default_stages


def make_divisible(value: float, divisor: int = 8) -> int:
    """ml-cvnets' (MobileNet's) rounding: nearest multiple of ``divisor``, never more than 10% below ``value``."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand (omitted at ratio 1) → depthwise kxk → 1x1 project (no activation).

    The residual is added when the block keeps resolution and width, as in ml-cvnets.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, expansion_ratio: float,
                 dilation: int = 1, act: str = "silu") -> None:
        super().__init__()
        hidden = make_divisible(int(round(in_channels * expansion_ratio)), 8)
        self.expand = (ConvNormAct(in_channels, hidden, 1, act=act) if expansion_ratio != 1 else nn.Identity())
        self.dwconv = ConvNormAct(hidden, hidden, 3, stride, dilation=dilation, groups=hidden, act=act)
        self.project = ConvNormAct(hidden, out_channels, 1, act=None)
        self.use_residual = stride == 1 and in_channels == out_channels

    def forward(self, x):
        y = self.project(self.dwconv(self.expand(x)))
        return x + y if self.use_residual else y


def transformer_block(dim: int, ffn_dim: int, params: MobileViTParams) -> MetaFormerBlock:
    """Pre-norm encoder block: ``x + attn(norm1(x))``, ``x + mlp(norm2(x))`` (ml-cvnets TransformerEncoder)."""
    attn = MultiHeadSelfAttention(dim, params.num_attention_heads, qkv_bias=True,
                                  attn_drop=params.attention_dropout_prob, proj_drop=params.dropout_prob)
    mlp = Mlp(dim, ffn_dim, act=params.act_type, drop=params.ffn_dropout_prob)
    # ml-cvnets drops with ffn_dropout between the MLP layers but with dropout after the second one
    mlp.drop2 = nn.Dropout(params.dropout_prob)
    return MetaFormerBlock(attn, mlp, nn.LayerNorm(dim, eps=params.norm_eps), nn.LayerNorm(dim, eps=params.norm_eps),
                           dim, layer_scale_init=None, drop_path=0.0)


class MobileViTBlock(nn.Module):
    """Local kxk conv → 1x1 to ``dim`` → unfold into patches → transformer → fold → 1x1 back → fusion.

    Unfolding groups the map into ``patch_size x patch_size`` patches; the tokens of one sequence are the
    pixels at the same offset inside every patch, so a sequence has ``(H/p)*(W/p)`` tokens and there are
    ``B*p*p`` sequences. Fusion concatenates the block input with the global branch and mixes them by a
    kxk conv (``use_fusion_layer``).
    """

    def __init__(self, channels: int, dim: int, ffn_dim: int, num_blocks: int, params: MobileViTParams) -> None:
        super().__init__()
        if dim % params.num_attention_heads:
            # a user mistake (a config combination), so it reaches the user as one line, not a traceback
            raise ConfigError(f"attention_channels ({dim}) must be divisible by num_attention_heads "
                              f"({params.num_attention_heads})",
                              field="model.architecture.backbone.params.num_attention_heads")
        k, act = params.conv_kernel_size, params.act_type
        self.local_conv = ConvNormAct(channels, channels, k, act=act)
        self.local_proj = nn.Conv2d(channels, dim, 1, bias=False)
        self.transformer = nn.Sequential(*(transformer_block(dim, ffn_dim, params) for _ in range(num_blocks)))
        self.norm = nn.LayerNorm(dim, eps=params.norm_eps)
        self.proj = ConvNormAct(dim, channels, 1, act=act)
        self.fusion: Optional[nn.Module] = (ConvNormAct(2 * channels, channels, k, act=act)
                                            if params.use_fusion_layer else None)
        self.patch_size = params.patch_size

    def unfold(self, fm, b, nh: int, nw: int):
        """``(B, C, nh*p, nw*p) -> (B*p*p, nh*nw, C)``: one sequence per pixel offset inside the patches."""
        p = self.patch_size
        # (B, C, nh, p, nw, p) -> (B, p, p, nh, nw, C), flattened: the order of ml-cvnets' reshapes
        return fm.reshape(b, -1, nh, p, nw, p).permute(0, 3, 5, 2, 4, 1).flatten(3, 4).flatten(0, 2)

    def fold(self, tokens, b, nh: int, nw: int):
        """Inverse of :meth:`unfold`: ``(B*p*p, nh*nw, C) -> (B, C, nh*p, nw*p)``."""
        p = self.patch_size
        return tokens.reshape(b, p, p, nh, nw, -1).permute(0, 5, 3, 1, 4, 2).flatten(4, 5).flatten(2, 3)

    def forward(self, x):
        p = self.patch_size
        fm = self.local_proj(self.local_conv(x))
        # sizes are read only as arguments (fx records them as graph values)
        b, h, w = fm.shape[0], fm.shape[2], fm.shape[3]
        nh, nw = (h + p - 1) // p, (w + p - 1) // p
        # identity when h and w are multiples of p (ml-cvnets resizes only then; the result is the same)
        fm = F.interpolate(fm, size=(nh * p, nw * p), mode="bilinear", align_corners=False)
        tokens = self.norm(self.transformer(self.unfold(fm, b, nh, nw)))
        fm = F.interpolate(self.fold(tokens, b, nh, nw), size=(h, w), mode="bilinear", align_corners=False)
        fm = self.proj(fm)
        if self.fusion is not None:
            fm = self.fusion(torch.cat((x, fm), dim=1))
        return fm


class MobileViT(nn.Module):
    """``x (B, 3, H, W) -> (feature (B, C_exp, H/32, W/32),)``: the 1x1 expansion conv's map (ml-cvnets
    ``conv_1x1_exp``), the classifier's input before pooling. Stride 32 unless stages are dilated."""

    def __init__(self, params: MobileViTParams, stage_params: list[MobileViTStageParams]) -> None:
        super().__init__()
        act = params.act_type
        self.stem = ConvNormAct(3, params.stem_channels, 3, 2, act=act)
        channels, stride, dilation = params.stem_channels, 2, 1
        stages = []
        for sp in stage_params:
            blocks: list[nn.Module] = []
            block_stride, block_dilation = sp.stride, dilation
            if sp.stride == 2 and sp.dilate:
                # ml-cvnets: the stride-2 block runs at the previous dilation with stride 1; later ones dilate more
                block_stride, dilation = 1, dilation * 2
            stride *= block_stride
            if sp.block_type == "mv2":
                for i in range(sp.num_blocks):
                    blocks.append(InvertedResidual(channels, sp.out_channels, block_stride if i == 0 else 1,
                                                   sp.ir_expansion_ratio, block_dilation if i == 0 else 1, act))
                    channels = sp.out_channels
            else:
                if sp.stride == 2:
                    blocks.append(InvertedResidual(channels, sp.out_channels, block_stride, sp.ir_expansion_ratio,
                                                   block_dilation, act))
                    channels = sp.out_channels
                # ml-cvnets builds the MobileViT block on the stage input width when there is no downsampling block
                assert sp.attention_channels is not None and sp.ffn_intermediate_channels is not None
                blocks.append(MobileViTBlock(channels, sp.attention_channels, sp.ffn_intermediate_channels,
                                             sp.num_blocks, params))
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        out = min(int(params.output_expansion_ratio * channels), params.max_output_channels)
        self.exp_conv = ConvNormAct(channels, out, 1, act=act)
        self.feature_info = FeatureInfo((Feature(out, stride),))

    def netspresso_keys(self, keys):
        """NetsPresso Trainer's MobileViT names onto ours (:mod:`np_plugin_mobilevit.netspresso`)."""
        # lazy: only needed when such a checkpoint is loaded
        from np_plugin_mobilevit.netspresso import netspresso_keys

        return netspresso_keys(keys)

    def forward(self, x):
        return (self.exp_conv(self.stages(self.stem(x))),)


def build(params: Optional[MobileViTParams], stage_params: list[MobileViTStageParams], task: str) -> MobileViT:
    """Backbone factory; empty ``stage_params`` gives MobileViT-S's stages."""
    return MobileViT(params or MobileViTParams(), list(stage_params) or default_stages())
