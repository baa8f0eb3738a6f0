"""apple/ml-cvnets VisionTransformer state dicts → nptrain's layout (``backbone.*`` / ``head.classifier.*``).

ml-cvnets wraps each stem conv in ``ConvLayer2d.block`` and each encoder half in an
``nn.Sequential`` (``pre_norm_mha = [norm, attention, dropout]``, ``pre_norm_ffn = [norm, fc1,
act, dropout, fc2, dropout]``); the tensors themselves need no reshaping: the fused ``qkv_proj``
already stacks query, key and value rows in the order our attention expects.
"""
from __future__ import annotations

import re
from typing import Mapping

import torch

from nptrain.converter_kit import convert_by_rule

_STEM = re.compile(r"^patch_emb\.([0-2])\.block\.(conv|norm)\.(.+)$")
_BLOCK = re.compile(r"^transformer\.(\d+)\.(pre_norm_mha|pre_norm_ffn)\.(\d)\.(?:(qkv_proj|out_proj)\.)?(weight|bias)$")
# (sequence, index inside it, attention sub-layer) -> our sub-module inside backbone.blocks.<i>
_BLOCK_PARTS = {
    ("pre_norm_mha", "0", None): "norm1",
    ("pre_norm_mha", "1", "qkv_proj"): "token_mixer.qkv",
    ("pre_norm_mha", "1", "out_proj"): "token_mixer.proj",
    ("pre_norm_ffn", "0", None): "norm2",
    ("pre_norm_ffn", "1", None): "mlp.fc1",
    ("pre_norm_ffn", "4", None): "mlp.fc2",
}
_PLAIN = {
    "cls_token": "backbone.cls_token",
    "pos_embed.pos_embed.pos_embed": "backbone.pos_embed",
    "post_transformer_norm.weight": "backbone.norm.weight",
    "post_transformer_norm.bias": "backbone.norm.bias",
    "classifier.weight": "head.classifier.weight",
    "classifier.bias": "head.classifier.bias",
}


def target_key(key: str) -> str | None:
    """Our task-model key for an ml-cvnets ViT key, or None when the key has no counterpart."""
    if key in _PLAIN:
        return _PLAIN[key]
    m = _STEM.match(key)
    if m:
        idx, kind, leaf = m.groups()
        return f"backbone.stem.{idx}.{kind}.{leaf}"
    m = _BLOCK.match(key)
    if m:
        block, seq, idx, attn, leaf = m.groups()
        part = _BLOCK_PARTS.get((seq, idx, attn))
        return None if part is None else f"backbone.blocks.{block}.{part}.{leaf}"
    return None


def from_mlcvnets(state_dict: Mapping[str, torch.Tensor], *, preset: str, keep_head: bool = True) -> dict:
    """Convert an ml-cvnets ``VisionTransformer`` state dict for ``preset``.

    Raises :class:`ConversionError` (see :mod:`nptrain.converter_kit`) for any source key without a
    counterpart, two source keys landing on one target, any target key left unfilled, and any tensor
    whose shape differs from the preset's.
    """
    # the checkpoint's classifier decides the class count; without it any count gives the same backbone
    return convert_by_rule(state_dict, target_key, source="mlcvnets", preset=preset, keep_head=keep_head)
