"""MobileNetV4 backbone (Qin et al., "MobileNetV4: Universal Models for the Mobile Ecosystem", 2024) in NetsPresso
Trainer's layout.

Module names follow the state dict NetsPresso Trainer 1.4.1 saves (``conv_stem.block.conv``,
``stages.<s>.<b>.block.<k>.block.conv``, ``norm_layer`` / ``attention.{query,key,value,linear}`` in the attention
blocks, ``layer_scale.gamma``), so its checkpoints load key for key. BatchNorm eps is 1e-5 as NetsPresso's.
Forward has no shape-dependent control flow (fx-traceable)."""
from __future__ import annotations

import math

import torch
from torch import nn

from nptrain.layers import ConvLayer, LayerScale, make_norm, returned_stages
from nptrain.records import Feature, FeatureInfo

from np_plugin_mobilenetv4.params import Block, MobileNetV4Params, MobileNetV4Stage


class FusedIB(nn.Module):
    """Fused inverted bottleneck: a full k×k conv to the hidden width (strided), a linear 1×1 projection."""

    def __init__(self, cin: int, f: dict, norm: str, act: str) -> None:
        super().__init__()
        self.block = nn.Sequential(
            ConvLayer(cin, f["hidden_channels"], f["kernel_size"], f["stride"], norm=norm, act=act),
            ConvLayer(f["hidden_channels"], f["out_channels"], 1, norm=norm))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class UniversalInvertedResidual(nn.Module):
    """[depthwise k1, linear] → 1×1 expansion (where the width changes) → [depthwise k2, strided] → linear 1×1
    projection; layer scale and a residual where the stride is 1 and the widths agree."""

    def __init__(self, cin: int, f: dict, norm: str, act: str, layer_scale: float | None) -> None:
        super().__init__()
        hidden, cout, stride = f["hidden_channels"], f["out_channels"], f["stride"]
        layers: list[nn.Module] = []
        if f["extra_dw"]:
            layers.append(ConvLayer(cin, cin, f["extra_dw_kernel_size"], groups=cin, norm=norm))
        if hidden != cin:
            layers.append(ConvLayer(cin, hidden, 1, norm=norm, act=act))
        if f["middle_dw"]:
            layers.append(ConvLayer(hidden, hidden, f["middle_dw_kernel_size"], stride, groups=hidden, norm=norm,
                                    act=act))
        layers.append(ConvLayer(hidden, cout, 1, norm=norm))
        self.block = nn.Sequential(*layers)
        if layer_scale is not None:
            self.layer_scale = LayerScale(cout, layer_scale, channel_dim=1)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        if hasattr(self, "layer_scale"):
            out = self.layer_scale(out)
        return out + x if self.residual else out


class MultiQueryAttention2D(nn.Module):
    """``num_attention_heads`` query heads over one shared key head and one shared value head (1×1 convs on the
    map), keys and values optionally from a depthwise-downsampled map, queries optionally from an average-pooled
    one (upsampled back after the output projection)."""

    def __init__(self, channels: int, f: dict, norm: str) -> None:
        super().__init__()
        heads, width = f["num_attention_heads"], f["attention_channel"]
        # num_heads: the pruner keeps the convs of a module that declares it whole, so the heads stay aligned
        self.num_heads, self.head_dim = heads, width // heads
        pool = f["query_pooling_stride"]
        query: list[nn.Module] = [nn.AvgPool2d(pool), make_norm(norm, channels)] if pool else []
        self.query = nn.Sequential(*query, nn.Conv2d(channels, width, 1, bias=False))
        self.key = nn.Sequential(*self._downsample(channels, f, norm), nn.Conv2d(channels, self.head_dim, 1, bias=False))
        self.value = nn.Sequential(*self._downsample(channels, f, norm),
                                   nn.Conv2d(channels, self.head_dim, 1, bias=False))
        up: list[nn.Module] = [nn.Upsample(scale_factor=pool, mode="bilinear", align_corners=False)] if pool else []
        self.linear = nn.Sequential(*up, nn.Conv2d(width, channels, 1, bias=False))
        self.scale = 1.0 / math.sqrt(self.head_dim)

    @staticmethod
    def _downsample(channels: int, f: dict, norm: str) -> list[nn.Module]:
        if not f["key_val_downsample"]:
            return []
        k, s = f["key_val_downsample_kernel_size"], f["key_val_downsample_stride"]
        return [nn.Conv2d(channels, channels, k, s, k // 2, groups=channels, bias=False), make_norm(norm, channels)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self.query(x)  # (B, heads * d, h, w)
        k = self.key(x).flatten(2)  # (B, d, n)
        v = self.value(x).flatten(2)
        qf = q.flatten(2).unflatten(1, (self.num_heads, self.head_dim))  # (B, heads, d, h*w)
        attn = torch.softmax(torch.einsum("bhdq,bdk->bhqk", qf, k) * self.scale, dim=-1)
        out = torch.einsum("bhqk,bdk->bhdq", attn, v).flatten(1, 2)  # (B, heads * d, h*w)
        return self.linear(out.reshape_as(q))


class MobileMultiQueryAttention(nn.Module):
    """Pre-norm multi-query attention with layer scale and a residual."""

    def __init__(self, channels: int, f: dict, norm: str, layer_scale: float | None) -> None:
        super().__init__()
        self.norm_layer = make_norm(norm, channels)
        self.attention = MultiQueryAttention2D(channels, f, norm)
        if layer_scale is not None:
            self.layer_scale = LayerScale(channels, layer_scale, channel_dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.attention(self.norm_layer(x))
        if hasattr(self, "layer_scale"):
            out = self.layer_scale(out)
        return out + x


def _block(cin: int, block: Block, p: MobileNetV4Params) -> nn.Module:
    f = block.fields
    if block.kind == "conv":
        return ConvLayer(cin, f["out_channels"], f["kernel_size"], f["stride"], norm=p.norm_type, act=p.act_type)
    if block.kind == "fi":
        return FusedIB(cin, f, p.norm_type, p.act_type)
    if block.kind == "uir":
        return UniversalInvertedResidual(cin, f, p.norm_type, p.act_type, p.layer_scale)
    if cin != f["out_channels"]:
        raise ValueError(f"an mmqa block keeps the width: out_channels {f['out_channels']} must equal its input's {cin}")
    return MobileMultiQueryAttention(cin, f, p.norm_type, p.layer_scale)


class MobileNetV4(nn.Module):
    def __init__(self, params: MobileNetV4Params, stages: list[MobileNetV4Stage]) -> None:
        super().__init__()
        if not stages:
            # lazy: the preset tables are only needed without stage_params
            from np_plugin_mobilenetv4.presets import TABLES

            stages = [MobileNetV4Stage.from_config(s) for s in TABLES["conv_small"]]
        p = params
        self.conv_stem = ConvLayer(3, p.stem_out_channel, p.stem_kernel_size, p.stem_stride, norm=p.norm_type,
                                   act=p.act_type)
        self.return_idx = returned_stages(p.return_stage_idx, len(stages))
        cin, stride, features, built = p.stem_out_channel, p.stem_stride, [], []
        for s, stage in enumerate(stages):
            blocks = []
            for block in stage.blocks:
                blocks.append(_block(cin, block, p))
                cin = block.fields["out_channels"]
                stride *= block.fields["stride"]
            if s == len(stages) - 1:
                blocks.append(ConvLayer(cin, p.final_conv_out_channel, p.final_conv_kernel_size, p.final_conv_stride,
                                        norm=p.norm_type, act=p.act_type))
                cin, stride = p.final_conv_out_channel, stride * p.final_conv_stride
            built.append(nn.Sequential(*blocks))
            features.append(Feature(cin, stride))
        self.stages = nn.ModuleList(built)
        self.feature_info = FeatureInfo(tuple(features[k] for k in self.return_idx))

    def forward(self, x: torch.Tensor):
        x = self.conv_stem(x)
        out = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.return_idx:
                out.append(x)
        return tuple(out)


def build(params: MobileNetV4Params, stage_params: list, task: str) -> MobileNetV4:
    return MobileNetV4(params, stage_params)
