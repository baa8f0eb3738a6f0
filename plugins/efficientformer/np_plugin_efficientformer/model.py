"""EfficientFormer v1 (snap-research ``models/efficientformer.py``), written on nptrain's shared blocks.

Layout: a two-conv stem (stride 4), four stages of Meta4D blocks (pooling token mixer + conv MLP
with BatchNorm, layer scale) separated by stride-2 conv+BN embeddings, and in the last stage
``vit_num`` Meta3D blocks (multi-head attention with learned attention biases + linear MLP, both
pre-LayerNorm, layer scale), then a final LayerNorm.

Meta3D blocks run on channels-last maps ``(B, H, W, C)`` instead of the original's flat token
sequence ``(B, H*W, C)``: LayerNorm, Linear and layer scale act on the last axis either way, and
keeping ``H`` and ``W`` lets the attention build its bias index for any token grid and lets the
stage hand a stride-32 map back to dense heads with a plain permute. The last stage's block list
holds a parameter-free :class:`ToChannelsLast` where the original has its ``Flat``, so block
indices match snap checkpoints one to one.

Every task gets maps: the last one is the final-normed stride-32 map (the original's ``norm(tokens)``
reshaped to ``(B, C, H, W)``, bit for bit), preceded by the three earlier stage maps for dense tasks.
Heads pool the map themselves.
"""
from __future__ import annotations

import torch
from torch import nn

from nptrain.layers import ConvNormAct, MetaFormerBlock, Mlp, make_activation
from nptrain.records import Feature, FeatureInfo

from np_plugin_efficientformer.params import (
    EfficientFormerHeadParams, EfficientFormerParams, EfficientFormerStage, default_stages,
)

# Token-grid side up to which the attention-bias index buffer reaches (2048-pixel inputs at stride 32).
MAX_TOKEN_GRID = 64


class Pooling(nn.Module):
    """Meta4D token mixer: ``avgpool(x) - x`` (the block adds ``x`` back), padding not counted in the mean."""

    def __init__(self, pool_size: int) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(pool_size, stride=1, padding=pool_size // 2, count_include_pad=False)

    def forward(self, x):
        return self.pool(x) - x


class ConvMlp(nn.Module):
    """Meta4D channel MLP: 1x1 conv → BN → act → drop → 1x1 conv → BN → drop (snap key names)."""

    def __init__(self, dim: int, hidden_dim: int, act: str, drop: float) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(dim, hidden_dim, 1)
        self.norm1 = nn.BatchNorm2d(hidden_dim)
        self.act = make_activation(act)
        self.drop1 = nn.Dropout(drop)
        self.fc2 = nn.Conv2d(hidden_dim, dim, 1)
        self.norm2 = nn.BatchNorm2d(dim)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x):
        return self.drop2(self.norm2(self.fc2(self.drop1(self.act(self.norm1(self.fc1(x)))))))


class Attention(nn.Module):
    """Multi-head attention on ``(B, H, W, C)`` with a learned bias per head and relative offset.

    ``qkv`` packs, per head, ``key_dim`` query rows, ``key_dim`` key rows and ``value_dim`` value rows
    (snap's layout). The bias of a query/key pair is ``attention_biases[:, |dy| * R + |dx|]`` with
    ``R = resolution`` (the snap ``attention_bias_idxs`` rule, for which an R x R grid gives the
    identical index). ``bias_offsets`` (``min(|i - j|, R - 1)``, built once, not saved) is sliced to
    the actual grid in ``forward``, so one module, traced or not, serves every input size.
    """

    def __init__(self, dim: int, num_heads: int, key_dim: int, value_dim: int, resolution: int,
                 attn_drop: float = 0.0) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = value_dim
        self.resolution = resolution
        self.scale = key_dim ** -0.5
        self.qkv = nn.Linear(dim, num_heads * (2 * key_dim + value_dim))
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(num_heads * value_dim, dim)
        self.attention_biases = nn.Parameter(torch.zeros(num_heads, resolution * resolution))
        # one row per head: heads are kept whole by pruning, so this is never cut along token positions
        self.pruning_dims = {"attention_biases": 0}
        pos = torch.arange(max(resolution, MAX_TOKEN_GRID))
        offsets = (pos[:, None] - pos[None, :]).abs().clamp(max=resolution - 1)
        self.register_buffer("bias_offsets", offsets, persistent=False)

    def bias_index(self, h, w):
        """``(h*w, h*w)`` index into ``attention_biases`` for an ``h x w`` token grid (row-major tokens)."""
        # narrow, not slicing: under fx tracing h and w are proxies, which a tensor slice cannot take
        dy = self.bias_offsets.narrow(0, 0, h).narrow(1, 0, h)
        dx = self.bias_offsets.narrow(0, 0, w).narrow(1, 0, w)
        idx = dy[:, None, :, None] * self.resolution + dx[None, :, None, :]  # (h, w, h, w): query, key
        return idx.flatten(2).flatten(0, 1)

    def forward(self, x):
        b, h, w = x.shape[0], x.shape[1], x.shape[2]
        qkv = self.qkv(x).reshape(b, -1, self.num_heads, 2 * self.key_dim + self.value_dim).permute(0, 2, 1, 3)
        q, k, v = qkv.split([self.key_dim, self.key_dim, self.value_dim], dim=3)
        # written out rather than fused: the bias is added after scaling, exactly as the original does
        attn = (q @ k.transpose(-2, -1)) * self.scale + self.attention_biases[:, self.bias_index(h, w)]
        attn = self.attn_drop(attn.softmax(dim=-1))
        out = (attn @ v).transpose(1, 2).reshape(b, h, w, -1)
        return self.proj(out)


class ToChannelsLast(nn.Module):
    """``(B, C, H, W) → (B, H, W, C)``: where the original flattens to tokens (its ``Flat``)."""

    def forward(self, x):
        return x.permute(0, 2, 3, 1)


def meta4d(dim: int, p: EfficientFormerParams, drop_path: float) -> MetaFormerBlock:
    return MetaFormerBlock(Pooling(p.pool_size), ConvMlp(dim, int(dim * p.ffn_intermediate_ratio), p.ffn_act_type,
                                                         p.ffn_dropout_prob),
                           nn.Identity(), nn.Identity(), dim, p.layer_scale_init_value, drop_path, channel_dim=1)


def meta3d(dim: int, p: EfficientFormerParams, drop_path: float) -> MetaFormerBlock:
    key_dim = p.attention_channels // p.num_attention_heads
    mixer = Attention(dim, p.num_attention_heads, key_dim, key_dim * p.attention_value_expansion_ratio,
                      p.attention_bias_resolution, p.attention_dropout_prob)
    mlp = Mlp(dim, int(dim * p.ffn_intermediate_ratio), act=p.ffn_act_type, drop=p.ffn_dropout_prob)
    return MetaFormerBlock(mixer, mlp, nn.LayerNorm(dim), nn.LayerNorm(dim), dim, p.layer_scale_init_value,
                           drop_path, channel_dim=-1)


class Stage(nn.Module):
    """Optional stride-2 embedding (``downsample``: conv+BN, no activation) then ``blocks``."""

    def __init__(self, downsample: nn.Module, blocks: list[nn.Module]) -> None:
        super().__init__()
        self.downsample = downsample
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x):
        return self.blocks(self.downsample(x))


class EfficientFormer(nn.Module):
    """Backbone; ``forward`` returns the final-normed stride-32 map, preceded by the other stage maps for dense tasks."""

    def __init__(self, params: EfficientFormerParams, stages: list[EfficientFormerStage], task: str) -> None:
        super().__init__()
        stages = list(stages) or default_stages()
        if len(stages) != 4:
            raise ValueError(f"efficientformer has four stages, got {len(stages)} stage_params")
        if params.vit_num > stages[-1].num_blocks:
            raise ValueError(f"vit_num ({params.vit_num}) exceeds the last stage's num_blocks ({stages[-1].num_blocks})")
        dims = [s.channels for s in stages]
        depths = [s.num_blocks for s in stages]
        total = sum(depths)
        self.stem = nn.Sequential(ConvNormAct(3, dims[0] // 2, 3, 2, bias=True),
                                  ConvNormAct(dims[0] // 2, dims[0], 3, 2, bias=True))
        self.stages = nn.ModuleList()
        strides, stride, done = [], 4, 0
        for i, (dim, depth) in enumerate(zip(dims, depths)):
            down: nn.Module = nn.Identity()
            if i > 0 and (params.downsamples[i - 1] or dims[i - 1] != dim):
                down = ConvNormAct(dims[i - 1], dim, 3, 2, bias=True, act=None)
                stride *= 2
            # drop-path rates rise linearly over all blocks, as in snap's meta_blocks
            rates = [params.drop_path_rate * (done + j) / max(total - 1, 1) for j in range(depth)]
            done += depth
            if i < 3:
                blocks = [meta4d(dim, params, r) for r in rates]
            else:
                n4d = depth - params.vit_num
                blocks = ([meta4d(dim, params, r) for r in rates[:n4d]] + [ToChannelsLast()]
                          + [meta3d(dim, params, r) for r in rates[n4d:]])
            self.stages.append(Stage(down, blocks))
            strides.append(stride)
        self.norm = nn.LayerNorm(dims[-1])
        self.dense = task != "classification"
        self.fork = params.fork_norms if self.dense else None
        if self.fork:
            # a GroupNorm(1, C) per returned stage (snap's fork_feat, NetsPresso's dense model); the final
            # LayerNorm stays (their checkpoints carry it) but is unused, so it is frozen: no gradient, and
            # DDP does not wait for one
            self.fork_norms = nn.ModuleList(nn.GroupNorm(1, d) for d in dims)
            self.norm.requires_grad_(False)
        last = Feature(dims[-1], strides[-1])
        self.feature_info = FeatureInfo(tuple(Feature(d, s) for d, s in zip(dims[:3], strides[:3])) + (last,)
                                        if self.dense else (last,))

    def netspresso_state(self, state):
        """A NetsPresso Trainer checkpoint's backbone tensors onto ours (:mod:`np_plugin_efficientformer.netspresso`)."""
        # lazy: only needed when such a checkpoint is loaded
        from np_plugin_efficientformer.netspresso import netspresso_state

        heads = {name: m.num_heads for name, m in self.named_modules() if isinstance(m, Attention)}
        return netspresso_state(state, heads)

    def forward(self, x):
        x = self.stem(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if self.fork:  # the last stage ends channels-last: back to (B, C, H, W) first
                y = self.fork_norms[i](x if i < 3 else x.permute(0, 3, 1, 2))
                outs.append(y)
                if self.fork == "inline" and i < 3:
                    x = y
            elif self.dense and i < 3:
                outs.append(x)
        if not self.fork:
            # the last stage ends channels-last: normalise the channels, then back to (B, C, H, W)
            outs.append(self.norm(x).permute(0, 3, 1, 2))
        return tuple(outs)


class EfficientFormerHead(nn.Module):
    """Mean over the last feature's positions → ``classifier`` (+ ``dist_classifier`` with distillation).

    Eval mode returns ``(logits + dist_logits) / 2`` like snap's model; training mode returns
    ``{"pred": that mean, "logits_head": ..., "logits_dist": ...}`` so a plain classification loss
    trains both classifiers and a distillation loss can pick the two apart.
    """

    def __init__(self, params: EfficientFormerHeadParams, in_features: FeatureInfo, num_classes: int) -> None:
        super().__init__()
        last = in_features.features[-1]
        self.is_map = last.stride is not None
        self.distillation = params.distillation
        self.classifier = nn.Linear(last.channels, num_classes)
        if self.distillation:
            self.dist_classifier = nn.Linear(last.channels, num_classes)

    def forward(self, features):
        x = features[-1]
        if self.is_map:  # fixed at build time, not a tensor-dependent branch
            x = x.flatten(2).mean(-1)
        logits = self.classifier(x)
        if not self.distillation:
            return logits
        dist = self.dist_classifier(x)
        pred = (logits + dist) / 2
        if self.training:
            return {"pred": pred, "logits_head": logits, "logits_dist": dist}
        return pred


def build(params: EfficientFormerParams | None, stage_params: list, task: str) -> EfficientFormer:
    return EfficientFormer(params or EfficientFormerParams(), stage_params, task)


def build_head(params: EfficientFormerHeadParams | None, in_features: FeatureInfo, num_classes: int,
               task: str) -> EfficientFormerHead:
    return EfficientFormerHead(params or EfficientFormerHeadParams(), in_features, num_classes)
