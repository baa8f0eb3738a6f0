"""Vision Transformer in apple/ml-cvnets' layout (conv stem, pre-norm encoder, CLS token).

The encoder blocks are nptrain's shared :class:`~nptrain.layers.MetaFormerBlock` with
self-attention as token mixer, so compression and export treat ViT like the other families.
Everything in ``forward`` is fx-traceable: the only shape read (the token count) is passed as an
argument to ``F.interpolate``, never branched on.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from nptrain.layers import ConvNormAct, MetaFormerBlock, Mlp, MultiHeadSelfAttention
from nptrain.records import Feature, FeatureInfo

from np_plugin_vit.params import ViTParams


def sinusoidal_table(num_embeddings: int, dim: int) -> torch.Tensor:
    """Fixed ``(1, 1, N, dim)`` sin/cos table: the first half of the channels are sines, the second
    cosines, frequencies geometric from 1 to 1/10000 (ml-cvnets' fairseq-style table)."""
    half = dim // 2
    step = math.log(10000) / max(half - 1, 1)
    freqs = torch.exp(torch.arange(half, dtype=torch.float) * -step)
    angles = torch.arange(num_embeddings, dtype=torch.float).unsqueeze(1) * freqs.unsqueeze(0)
    table = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
    if dim % 2:
        table = torch.cat([table, torch.zeros(num_embeddings, 1)], dim=1)
    return table.reshape(1, 1, num_embeddings, dim)


def interleaved_table(num_embeddings: int, dim: int) -> torch.Tensor:
    """Fixed ``(1, N, dim)`` table of the PyTorch tutorial's transformer (NetsPresso Trainer's ViT): channel
    ``2j`` is ``sin(pos * w_j)``, channel ``2j + 1`` is ``cos(pos * w_j)``, ``w_j = 10000 ** (-2j / dim)``."""
    table = torch.zeros(num_embeddings, dim)
    position = torch.arange(0, num_embeddings, dtype=torch.float).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, dim, 2).float() * (-math.log(10000.0) / dim))
    table[:, 0::2] = torch.sin(position * div_term)
    table[:, 1::2] = torch.cos(position * div_term[: dim // 2])
    return table.unsqueeze(0)


def drop_path_rates(rate: float, num_blocks: int) -> list[float]:
    """Per-block stochastic-depth rates: linear from 0 to ``rate``, rounded to 3 decimals like ml-cvnets."""
    if num_blocks == 1:
        return [0.0]
    return [round(rate * i / (num_blocks - 1), 3) for i in range(num_blocks)]


def encoder_block(params: ViTParams, drop_path: float) -> MetaFormerBlock:
    """One pre-norm transformer block: ``x + attn(norm1(x))`` then ``x + mlp(norm2(x))``."""
    dim = params.attention_channels
    attn = MultiHeadSelfAttention(dim, params.num_attention_heads, qkv_bias=True,
                                  attn_drop=params.attention_dropout_prob, proj_drop=params.dropout_prob)
    mlp = Mlp(dim, params.ffn_intermediate_channels, act=params.act_type, drop=params.ffn_dropout_prob)
    # ml-cvnets drops with ffn_dropout between the MLP layers but with dropout after the second one
    mlp.drop2 = nn.Dropout(params.dropout_prob)
    return MetaFormerBlock(attn, mlp, nn.LayerNorm(dim, eps=params.norm_eps), nn.LayerNorm(dim, eps=params.norm_eps),
                           dim, layer_scale_init=None, drop_path=drop_path)


class VisionTransformer(nn.Module):
    """``x (B, 3, H, W) -> (feature (B, attention_channels),)``.

    The feature is the CLS token after the final norm (or, without a CLS token, the mean of the
    normalised tokens). The position embedding is added to the patch tokens only, not to the CLS
    token (ml-cvnets follows DeiT-III here).
    """

    def __init__(self, params: ViTParams) -> None:
        super().__init__()
        dim = params.attention_channels
        self.dim = dim
        self.netspresso = params.style == "netspresso"
        if self.netspresso:
            kernel = params.patch_size + 1 if params.patch_size % 2 == 0 else params.patch_size
            self.patch_emb = nn.Conv2d(3, dim, kernel, params.patch_size, padding=(kernel - 1) // 2)
            self.pruning_dims = {"pos_embed": 2, "cls_token": 2}
            # saved with the weights, as NetsPresso saves it: its checkpoints carry the table they were run with
            self.register_buffer("pos_embed", interleaved_table(params.vocab_size, dim))
        else:
            stem = params.stem_channels or max(32, dim // 4)
            k0 = params.patch_size // 4
            # ml-cvnets pads (k - 1) // 2: 1 for the first 4x4 conv, 0 for the 2x2 ones (224 -> 56 -> 28 -> 14)
            self.stem = nn.Sequential(
                ConvNormAct(3, stem, k0, k0, padding=(k0 - 1) // 2, norm="batch_norm", act=params.act_type),
                ConvNormAct(stem, stem, 2, 2, padding=0, norm="batch_norm", act=params.act_type),
                ConvNormAct(stem, dim, 2, 2, padding=0, bias=True, norm=None, act=None),
            )
            # structured pruning of the embedding width trims these along their channel axis
            self.pruning_dims = {"pos_embed": 3, "cls_token": 2}
        self.num_embeddings = (params.image_size // params.patch_size) ** 2
        table_shape = (1, 1, self.num_embeddings, dim)
        if self.netspresso:
            pass  # the interleaved table above
        elif params.use_sinusoidal_pos_embed:
            # recomputed at build time, so it is not part of the state dict
            self.register_buffer("pos_embed", sinusoidal_table(self.num_embeddings, dim), persistent=False)
        else:
            self.pos_embed = nn.Parameter(torch.empty(table_shape))
            nn.init.trunc_normal_(self.pos_embed, std=dim ** -0.5)
        self.use_cls_token = params.use_cls_token
        if params.use_cls_token:
            self.cls_token = nn.Parameter(torch.empty(1, 1, dim))
            nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.pos_drop = nn.Dropout(params.pos_embed_dropout_prob)
        self.blocks = nn.Sequential(*[encoder_block(params, p)
                                      for p in drop_path_rates(params.drop_path_rate, params.num_blocks)])
        self.norm = nn.LayerNorm(dim, eps=params.norm_eps)
        self.feature_info = FeatureInfo((Feature(channels=dim, stride=None),))
        self._init_weights()

    def _init_weights(self) -> None:
        # ml-cvnets' defaults: linear layers normal(std 0.01) with zero bias, convs kaiming-normal (fan_out)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.01)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def position_embedding(self, tokens: torch.Tensor) -> torch.Tensor:
        """The table resized to the number of ``tokens`` ``(B, N, C)``, as ``(1, N, dim)`` in their dtype.

        The table is stretched along the flattened token axis (bilinear on a ``(N, dim)`` image, i.e.
        linear in the token index), exactly as ml-cvnets resizes it; at the table's own size the
        resize is the identity, so no shape test is needed in ``forward``.
        """
        # ``.to(tokens)`` also matters for fx: it turns a (non-proxied) buffer into a traced value,
        # so interpolate sees a Proxy input even for the sinusoidal table
        table = self.pos_embed.to(tokens)
        table = F.interpolate(table, size=(tokens.shape[1], self.dim), mode="bilinear", align_corners=False)
        return table.reshape(1, -1, self.dim)

    def netspresso_keys(self, keys):
        """NetsPresso Trainer's names for this backbone onto ours (:mod:`np_plugin_vit.netspresso`)."""
        # lazy: only needed when such a checkpoint is loaded
        from np_plugin_vit.netspresso import netspresso_keys

        return netspresso_keys(keys)

    def _netspresso_tokens(self, x):
        """Patch conv, CLS first, then the table's first rows added to every token (CLS included)."""
        tokens = self.patch_emb(x).flatten(2).transpose(1, 2)
        if self.use_cls_token:
            tokens = torch.cat((self.cls_token.expand(tokens.shape[0], -1, -1), tokens), dim=1)
        # ``.to(tokens)`` first: fx then slices a traced value by the traced token count (see position_embedding)
        return tokens + self.pos_embed.to(tokens)[:, : tokens.shape[1]]

    def forward(self, x):
        if self.netspresso:
            tokens = self.norm(self.blocks(self.pos_drop(self._netspresso_tokens(x))))
            return (tokens[:, 0] if self.use_cls_token else tokens.mean(dim=1),)
        tokens = self.stem(x).flatten(2).transpose(1, 2)  # (B, N, C)
        tokens = self.position_embedding(tokens) + tokens
        if self.use_cls_token:
            cls = self.cls_token.expand(tokens.shape[0], -1, -1)
            tokens = torch.cat((cls, tokens), dim=1)
        tokens = self.norm(self.blocks(self.pos_drop(tokens)))
        feature = tokens[:, 0] if self.use_cls_token else tokens.mean(dim=1)
        return (feature,)


def build(params: Optional[ViTParams], stage_params: list, task: str) -> VisionTransformer:
    """Backbone factory (``vit``); ViT has no stages and serves classification only."""
    if task != "classification":
        raise ValueError(f"the vit backbone serves classification only, not {task!r}")
    if stage_params:
        raise ValueError("the vit backbone takes no stage_params")
    return VisionTransformer(params or ViTParams())
