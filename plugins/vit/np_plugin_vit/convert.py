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

from nptrain.errors import ConversionError

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


def _expected_shapes(preset: str, num_classes: int) -> dict[str, tuple[int, ...]]:
    from nptrain.modeling.api import create_model

    with torch.device("meta"):  # shapes only: nothing is allocated or initialised for real
        model = create_model(preset, task="classification", num_classes=num_classes)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def from_mlcvnets(state_dict: Mapping[str, torch.Tensor], *, preset: str, keep_head: bool = True) -> dict:
    """Convert an ml-cvnets ``VisionTransformer`` state dict for ``preset``.

    Raises :class:`ConversionError` listing any source key without a counterpart, any target key
    left unfilled, and any tensor whose shape differs from the preset's.
    """
    out: dict[str, torch.Tensor] = {}
    unmapped = []
    for key, value in state_dict.items():
        target = target_key(key)
        if target is None:
            unmapped.append(key)
        elif keep_head or not target.startswith("head."):
            out[target] = value
    if unmapped:
        raise ConversionError(f"mlcvnets→{preset}: {len(unmapped)} unmapped source key(s): {', '.join(unmapped[:5])}")
    # the checkpoint's classifier decides the class count; without it any count gives the same backbone
    classifier = state_dict.get("classifier.weight")
    expected = _expected_shapes(preset, int(classifier.shape[0]) if classifier is not None else 1000)
    if not keep_head:
        expected = {k: s for k, s in expected.items() if not k.startswith("head.")}
    missing, extra = sorted(set(expected) - set(out)), sorted(set(out) - set(expected))
    if missing or extra:
        raise ConversionError(f"mlcvnets→{preset}: {len(missing)} target key(s) unfilled ({', '.join(missing[:5])}), "
                              f"{len(extra)} unexpected ({', '.join(extra[:5])}); is the checkpoint a {preset}?")
    wrong = [f"{k} {tuple(v.shape)} != {expected[k]}" for k, v in out.items() if tuple(v.shape) != expected[k]]
    if wrong:
        raise ConversionError(f"mlcvnets→{preset}: {len(wrong)} shape mismatch(es): {'; '.join(wrong[:5])}; "
                              f"is the checkpoint a {preset}?")
    return out
