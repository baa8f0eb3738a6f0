"""timm MobileNetV4 state dicts (``timm.create_model('mobilenetv4_*')``, the weights on the Hugging Face hub under
``timm/mobilenetv4_*``) → nptrain's layout (``backbone.*`` / ``head.*``).

timm keeps the blocks as ``blocks.<stage>.<block>`` with the last 1×1 conv as a stage of its own; the presets keep
NetsPresso's stages with that conv appended to the last one, so the n-th timm block is the n-th block here in order.
Inside a block the layers are named where ours are numbered: ``dw_start`` / ``pw_exp`` / ``dw_mid`` / ``pw_proj``
are the universal inverted residual's ``block.<k>`` in that order (only the ones present), ``conv_exp`` /
``conv_pwl`` the fused block's ``block.0`` / ``block.1``, ``attn.{query,key,value,output}`` the attention's
``attention.{query,key,value,linear}``. The head's ``conv_head`` / ``norm_head`` / ``classifier`` (a Linear) are
``head.classifier.0`` / ``.2`` (a 1×1 conv).

Layer scale is where the two disagree: timm's conv models have none where NetsPresso's configs (and these presets)
scale every residual by a learned ``gamma`` (initial 0.1), and timm's ``hybrid_large`` has one where NetsPresso's
has none. A missing ``gamma`` is filled with ones (the same function), and one the preset lacks is folded into the
layer it scales (the last BatchNorm's weight and bias, or the attention's output projection): outputs agree to
rounding either way."""
from __future__ import annotations

import re
from typing import Mapping, Optional

import torch

from nptrain.converter_kit import check_layout, classes_in, drop_head, module_places, preset_shapes, rename
from nptrain.converter_rules import Map, Reshape
from nptrain.errors import ConversionError

_UIR = ("dw_start", "pw_exp", "dw_mid", "pw_proj")
_CONV = {"conv": "conv", "bn1": "norm", "bn": "norm"}
CLASSIFIER = "head.classifier.2.conv.weight"


def _inner(rest: str, parts: set[str]) -> Optional[str]:
    """One timm block's key below the block → ours below ``stages.<s>.<b>.``."""
    m = re.fullmatch(r"(conv|bn1)\.(.+)", rest)
    if m and "conv_exp" not in parts:  # a plain conv block
        return f"block.{_CONV[m[1]]}.{m[2]}"
    m = re.fullmatch(r"(conv_exp|bn1|conv_pwl|bn2)\.(.+)", rest)
    if m:  # the fused inverted bottleneck
        k = 0 if m[1] in ("conv_exp", "bn1") else 1
        return f"block.{k}.block.{'conv' if m[1].startswith('conv') else 'norm'}.{m[2]}"
    m = re.fullmatch(r"(dw_start|pw_exp|dw_mid|pw_proj)\.(conv|bn)\.(.+)", rest)
    if m:
        k = [p for p in _UIR if p in parts].index(m[1])
        return f"block.{k}.block.{_CONV[m[2]]}.{m[3]}"
    if rest == "layer_scale.gamma":
        return rest
    m = re.fullmatch(r"norm\.(.+)", rest)
    if m:  # the attention block's pre-norm
        return f"norm_layer.{m[1]}"
    return None


def _attention(rest: str, block_keys: set[str]) -> Optional[str]:
    m = re.fullmatch(r"attn\.(query|key|value|output)\.(down_pool|down_conv|norm|proj)\.(.+)", rest)
    if not m:
        return None
    branch, layer, leaf = m[1], m[2], m[3]
    pooled = any(k.startswith("attn.query.norm.") for k in block_keys)
    if branch == "output":
        return f"attention.linear.{1 if pooled else 0}.{leaf}" if layer == "proj" else None
    if branch == "query":
        index = {"norm": 1, "proj": 2 if pooled else 0}.get(layer)
    else:
        down = any(k.startswith(f"attn.{branch}.down_conv.") for k in block_keys)
        index = {"down_conv": 0, "norm": 1, "proj": 2 if down else 0}.get(layer)
    return None if index is None else f"attention.{branch}.{index}.{leaf}"


def _rule(state: Mapping[str, torch.Tensor], places: list[str], label: str):
    keys_of: dict[tuple[int, int], set[str]] = {}  # each timm block (stage, index): its keys below the block
    for key in state:
        m = re.match(r"blocks\.(\d+)\.(\d+)\.(.+)", key)
        if m:
            keys_of.setdefault((int(m[1]), int(m[2])), set()).add(m[3])
    parts = {block: {k.split(".", 1)[0] for k in keys} for block, keys in keys_of.items()}  # its direct children
    order = sorted(keys_of)
    if len(order) != len(places):
        raise ConversionError(f"{label}: the file has {len(order)} blocks, the preset {len(places)}; "
                              "is the checkpoint this size?")
    where = dict(zip(order, places))

    def target(key: str):
        m = re.fullmatch(r"(conv_stem|bn1)\.(.+)", key)
        if m:
            return f"backbone.conv_stem.block.{'conv' if m[1] == 'conv_stem' else 'norm'}.{m[2]}"
        m = re.fullmatch(r"blocks\.(\d+)\.(\d+)\.(.+)", key)
        if m:
            block = (int(m[1]), int(m[2]))
            inner = _attention(m[3], keys_of[block]) or _inner(m[3], parts[block])
            return f"{where[block]}.{inner}" if inner else None
        m = re.fullmatch(r"(conv_head|norm_head)\.(.+)", key)
        if m:
            return f"head.classifier.0.{'conv' if m[1] == 'conv_head' else 'norm'}.{m[2]}"
        if key == "classifier.weight":
            return Map(CLASSIFIER, Reshape(*state[key].shape, 1, 1))
        if key == "classifier.bias":
            return "head.classifier.2.conv.bias"
        return None

    return target


def _fold_layer_scale(out: dict[str, torch.Tensor], gamma_key: str) -> None:
    """Scale the layer ``gamma`` follows by ``gamma`` and drop it (the preset has no layer scale there)."""
    block = gamma_key[: -len("layer_scale.gamma")]
    gamma = out.pop(gamma_key)
    projection = f"{block}attention.linear.0.weight"
    if projection in out:  # an attention block: its output projection has no bias
        out[projection] = out[projection] * gamma.reshape(-1, 1, 1, 1)
        return
    last = max(int(m[1]) for k in out if (m := re.match(re.escape(block) + r"block\.(\d+)\.", k)))
    for leaf in ("weight", "bias"):
        key = f"{block}block.{last}.block.norm.{leaf}"
        out[key] = out[key] * gamma


def from_timm(state_dict: Mapping[str, torch.Tensor], *, preset: str, keep_head: bool = True) -> dict:
    """Convert a timm ``mobilenetv4_conv_*`` / ``mobilenetv4_hybrid_*`` state dict for ``preset``; any unmapped,
    unfilled or misshapen key raises (a file of another size says so)."""
    label = f"timm→{preset}"
    expected = preset_shapes(preset, num_classes=classes_in(state_dict, "classifier.weight"))
    out = rename(state_dict, _rule(state_dict, module_places(expected), label), label=label)
    for key in [k for k in out if k.endswith("layer_scale.gamma") and k not in expected]:
        _fold_layer_scale(out, key)
    for key, shape in expected.items():
        if key.endswith("layer_scale.gamma") and key not in out:
            out[key] = torch.ones(shape)
    return check_layout(drop_head(out, keep_head), drop_head(expected, keep_head), label=label, preset=preset)
