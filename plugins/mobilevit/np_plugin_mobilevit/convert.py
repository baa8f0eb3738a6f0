"""apple/ml-cvnets MobileViT state dicts → nptrain's layout (``backbone.*`` / ``head.classifier.*``).

ml-cvnets wraps every conv in ``ConvLayer2d.block`` (``conv``, ``norm``), names its stages
``layer_1``..``layer_5`` and the blocks of an inverted residual ``exp_1x1`` / ``conv_3x3`` / ``red_1x1``.
A MobileViT block holds ``local_rep`` (``conv_3x3``, ``conv_1x1``), ``global_rep`` (the transformer
encoders, then one LayerNorm at the last index), ``conv_proj`` and ``fusion``. Tensors need no
reshaping: the fused ``qkv_proj`` stacks query, key and value rows as our attention expects.
"""
from __future__ import annotations

import re
from typing import Mapping

import torch

from nptrain.converter_kit import convert_by_rule

_LEAF = r"(weight|bias|running_mean|running_var|num_batches_tracked)"
_STEM = re.compile(rf"^conv_1\.block\.(conv|norm)\.{_LEAF}$")
_EXP = re.compile(rf"^conv_1x1_exp\.block\.(conv|norm)\.{_LEAF}$")
_IR = re.compile(rf"^layer_([1-9])\.(\d+)\.block\.(exp_1x1|conv_3x3|red_1x1)\.block\.(conv|norm)\.{_LEAF}$")
_CONV = re.compile(rf"^layer_([1-9])\.(\d+)\.(local_rep\.conv_3x3|local_rep\.conv_1x1|conv_proj|fusion)"
                   rf"\.block\.(conv|norm)\.{_LEAF}$")
_ENCODER = re.compile(r"^layer_([1-9])\.(\d+)\.global_rep\.(\d+)\.(pre_norm_mha|pre_norm_ffn)\.(\d)\."
                      r"(?:(qkv_proj|out_proj)\.)?(weight|bias)$")
_FINAL_NORM = re.compile(r"^layer_([1-9])\.(\d+)\.global_rep\.(\d+)\.(weight|bias)$")
_IR_PARTS = {"exp_1x1": "expand", "conv_3x3": "dwconv", "red_1x1": "project"}
_CONV_PARTS = {"local_rep.conv_3x3": "local_conv", "conv_proj": "proj", "fusion": "fusion"}
# (sequence, index inside it, attention sub-layer) -> our sub-module inside a MetaFormerBlock
_ENCODER_PARTS = {
    ("pre_norm_mha", "0", None): "norm1",
    ("pre_norm_mha", "1", "qkv_proj"): "token_mixer.qkv",
    ("pre_norm_mha", "1", "out_proj"): "token_mixer.proj",
    ("pre_norm_ffn", "0", None): "norm2",
    ("pre_norm_ffn", "1", None): "mlp.fc1",
    ("pre_norm_ffn", "4", None): "mlp.fc2",
}
_HEAD = {"classifier.fc.weight": "head.classifier.weight", "classifier.fc.bias": "head.classifier.bias"}


def target_key(key: str) -> str | None:
    """Our task-model key for an ml-cvnets MobileViT key, or None when the key has no counterpart."""
    if key in _HEAD:
        return _HEAD[key]
    if m := _STEM.match(key):
        return f"backbone.stem.{m[1]}.{m[2]}"
    if m := _EXP.match(key):
        return f"backbone.exp_conv.{m[1]}.{m[2]}"
    if m := _IR.match(key):
        stage, block, part, kind, leaf = m.groups()
        return f"backbone.stages.{int(stage) - 1}.{block}.{_IR_PARTS[part]}.{kind}.{leaf}"
    if m := _CONV.match(key):
        stage, block, part, kind, leaf = m.groups()
        prefix = f"backbone.stages.{int(stage) - 1}.{block}"
        if part == "local_rep.conv_1x1":  # a bare 1x1 conv (no norm, no bias) in both layouts
            return f"{prefix}.local_proj.{leaf}" if (kind, leaf) == ("conv", "weight") else None
        return f"{prefix}.{_CONV_PARTS[part]}.{kind}.{leaf}"
    if m := _ENCODER.match(key):
        stage, block, layer, seq, idx, attn, leaf = m.groups()
        part = _ENCODER_PARTS.get((seq, idx, attn))
        if part is None:
            return None
        return f"backbone.stages.{int(stage) - 1}.{block}.transformer.{layer}.{part}.{leaf}"
    if m := _FINAL_NORM.match(key):
        # the LayerNorm after the last encoder (its index is the encoder count, checked by the shape/key test below)
        stage, block, _, leaf = m.groups()
        return f"backbone.stages.{int(stage) - 1}.{block}.norm.{leaf}"
    return None


def from_mlcvnets(state_dict: Mapping[str, torch.Tensor], *, preset: str, keep_head: bool = True) -> dict:
    """Convert an ml-cvnets ``MobileViT`` state dict for ``preset``.

    Raises :class:`ConversionError` (see :mod:`nptrain.converter_kit`) for any source key without a
    counterpart, two source keys landing on one target, any target key left unfilled, and any tensor
    whose shape differs from the preset's.
    """
    # the checkpoint's classifier decides the class count; without it any count gives the same backbone
    return convert_by_rule(state_dict, target_key, source="mlcvnets", preset=preset, keep_head=keep_head)
