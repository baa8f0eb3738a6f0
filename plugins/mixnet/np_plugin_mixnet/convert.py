"""timm MixNet state dicts (``timm.create_model('mixnet_s' | 'mixnet_m' | 'mixnet_l')``, the weights on the Hugging
Face hub under ``timm/mixnet_*``) → nptrain's layout (``backbone.*`` / ``head.*``).

timm numbers its blocks ``blocks.<stage>.<block>`` by the paper's stages and keeps the last 1×1 conv as
``conv_head`` / ``bn2``; NetsPresso's stages (the presets') group the same blocks differently and append that conv
to the last stage, so the n-th timm block is the n-th block here in order. Inside a block timm names what ours
names by role: ``conv_pw`` / ``bn1`` (expansion), ``conv_dw`` / ``bn2`` (mixed depthwise), ``se.conv_reduce`` /
``se.conv_expand``, ``conv_pwl`` / ``bn3`` (projection); a split convolution's parts are ``.<k>`` in both, an unsplit
one is part 0 here. The first block (depthwise-separable, no expansion) is ``conv_dw`` / ``bn1`` / ``conv_pw`` /
``bn2``. Same computation, same padding (timm's ``mixnet_*``, not the ``tf_`` variants); one difference: the blocks'
BatchNorms use eps 1e-3 here (NetsPresso's, the original paper's) and 1e-5 in timm, so the converter adds the
difference to their running variance (``var + 1e-5 = var' + 1e-3``: the same normalisation; a channel whose variance
is below 1e-3 gets a negative ``var'``, harmless since BatchNorm only ever uses ``var' + eps``). Outputs agree to
rounding."""
from __future__ import annotations

import re
from typing import Mapping, Optional

import torch

from nptrain.converter_kit import classes_in, convert_by_rule, module_places, preset_shapes
from nptrain.errors import ConversionError

from np_plugin_mixnet.model import BLOCK_EPS

TIMM_EPS = 1e-5  # every BatchNorm of timm's mixnet_*

# (timm child, our part) for the inverted residual and for the depthwise-separable first block
_INVERTED = {"conv_pw": "expansion.conv.group_point_wise", "bn1": "expansion.norm",
             "conv_dw": "depth_wise.conv.mixed_depth_wise", "bn2": "depth_wise.norm",
             "conv_pwl": "point_wise.conv.group_point_wise", "bn3": "point_wise.norm"}
_SEPARABLE = {"conv_dw": "depth_wise.conv.mixed_depth_wise", "bn1": "depth_wise.norm",
              "conv_pw": "point_wise.conv.group_point_wise", "bn2": "point_wise.norm"}
_SE = {"conv_reduce": "fc1", "conv_expand": "fc2"}


def _rule(state: Mapping[str, torch.Tensor], places: list[str], label: str):
    children: dict[tuple[int, int], set[str]] = {}
    for key in state:
        m = re.match(r"blocks\.(\d+)\.(\d+)\.([a-z_]+)", key)
        if m:
            children.setdefault((int(m[1]), int(m[2])), set()).add(m[3])
    order = sorted(children)
    if len(order) + 1 != len(places):  # + conv_head
        raise ConversionError(f"{label}: the file has {len(order)} blocks and a head conv, the preset "
                              f"{len(places)} blocks; is the checkpoint this size?")
    where = dict(zip(order, places))

    def inner(rest: str, parts: set[str]) -> Optional[str]:
        names = _INVERTED if "conv_pwl" in parts else _SEPARABLE
        m = re.fullmatch(r"(conv_\w+?)\.(?:(\d+)\.)?weight", rest)
        if m and m[1] in names:
            return f"{names[m[1]]}.{m[2] or 0}.weight"
        m = re.fullmatch(r"(bn\d)\.(.+)", rest)
        if m and m[1] in names:
            return f"{names[m[1]]}.{m[2]}"
        m = re.fullmatch(r"se\.(conv_reduce|conv_expand)\.(weight|bias)", rest)
        return f"se_block.{_SE[m[1]]}.{m[2]}" if m else None

    def target(key: str) -> Optional[str]:
        m = re.fullmatch(r"(conv_stem|bn1)\.(.+)", key)
        if m:
            return f"backbone.mod1.block.{'conv' if m[1] == 'conv_stem' else 'norm'}.{m[2]}"
        m = re.fullmatch(r"(conv_head|bn2)\.(.+)", key)
        if m:
            return f"{places[-1]}.block.{'conv' if m[1] == 'conv_head' else 'norm'}.{m[2]}"
        m = re.fullmatch(r"blocks\.(\d+)\.(\d+)\.(.+)", key)
        if m:
            block = (int(m[1]), int(m[2]))
            rest = inner(m[3], children[block])
            return f"{where[block]}.{rest}" if rest else None
        m = re.fullmatch(r"classifier\.(weight|bias)", key)
        return f"head.classifier.{m[1]}" if m else None

    return target


def from_timm(state_dict: Mapping[str, torch.Tensor], *, preset: str, keep_head: bool = True) -> dict:
    """Convert a timm ``mixnet_s`` / ``_m`` / ``_l`` state dict for ``preset``; any unmapped, unfilled or misshapen
    key raises (a file of another size says so)."""
    label = f"timm→{preset}"
    places = module_places(preset_shapes(preset, num_classes=classes_in(state_dict, "classifier.weight")))
    out = convert_by_rule(state_dict, _rule(state_dict, places, label), source="timm", preset=preset,
                          keep_head=keep_head)
    for key in out:
        if re.fullmatch(r"backbone\.stages\.\d+\.\d+\.(expansion|depth_wise|point_wise)\.norm\.running_var", key):
            out[key] = out[key] + (TIMM_EPS - BLOCK_EPS)
    return out
