"""torchvision ResNet state dicts → nptrain's layout (``backbone.*`` / ``head.classifier.*``)."""
from __future__ import annotations

import re
from typing import Mapping

import torch

from nptrain.converter_kit import convert_by_rule

_BLOCK = re.compile(r"^layer(\d)\.(\d+)\.(conv|bn)(\d)\.(.+)$")
_DOWN = re.compile(r"^layer(\d)\.(\d+)\.downsample\.([01])\.(.+)$")


def _target(key: str) -> str | None:
    if key.startswith("conv1."):
        return "backbone.stem.conv." + key[len("conv1."):]
    if key.startswith("bn1."):
        return "backbone.stem.norm." + key[len("bn1."):]
    if key.startswith("fc."):
        return "head.classifier." + key[len("fc."):]
    m = _BLOCK.match(key)
    if m:
        stage, block, kind, idx, leaf = m.groups()
        return f"backbone.layers.{int(stage) - 1}.{block}.conv{idx}.{'conv' if kind == 'conv' else 'norm'}.{leaf}"
    m = _DOWN.match(key)
    if m:
        stage, block, part, leaf = m.groups()
        return f"backbone.layers.{int(stage) - 1}.{block}.shortcut.{'conv' if part == '0' else 'norm'}.{leaf}"
    return None


def from_torchvision(state_dict: Mapping[str, torch.Tensor], *, preset: str, keep_head: bool = True) -> dict:
    """Convert a torchvision ``ResNet`` state dict for ``preset``; any unmapped, unfilled or misshapen key raises."""
    # the checkpoint's classifier decides the class count; without it any count gives the same backbone
    return convert_by_rule(state_dict, _target, source="torchvision", preset=preset, keep_head=keep_head)
