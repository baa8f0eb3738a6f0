"""torchvision ResNet state dicts → nptrain's layout (``backbone.*`` / ``head.classifier.*``)."""
from __future__ import annotations

import re
from typing import Mapping

import torch

from nptrain.errors import ConversionError

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


def _expected_keys(preset: str) -> set[str]:
    from nptrain.modeling.api import create_model

    with torch.device("meta"):
        return set(create_model(preset, task="classification", num_classes=1).state_dict())


def from_torchvision(state_dict: Mapping[str, torch.Tensor], *, preset: str, keep_head: bool = True) -> dict:
    out: dict[str, torch.Tensor] = {}
    unmapped = []
    for key, value in state_dict.items():
        target = _target(key)
        if target is None:
            unmapped.append(key)
        elif keep_head or not target.startswith("head."):
            out[target] = value
    if unmapped:
        raise ConversionError(f"torchvision→{preset}: {len(unmapped)} unmapped source key(s): {', '.join(unmapped[:5])}")
    expected = _expected_keys(preset)
    if not keep_head:
        expected = {k for k in expected if not k.startswith("head.")}
    # older torchvision release files have no num_batches_tracked: BatchNorm counts from zero
    for key in expected - set(out):
        if key.endswith("num_batches_tracked"):
            out[key] = torch.tensor(0, dtype=torch.long)
    missing, extra = sorted(expected - set(out)), sorted(set(out) - expected)
    if missing or extra:
        raise ConversionError(f"torchvision→{preset}: {len(missing)} target key(s) unfilled ({', '.join(missing[:5])}), "
                              f"{len(extra)} unexpected ({', '.join(extra[:5])}); is the checkpoint a {preset}?")
    return out
