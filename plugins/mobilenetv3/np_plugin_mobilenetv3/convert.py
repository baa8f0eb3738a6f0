"""torchvision MobileNetV3 state dicts → nptrain's layout (``backbone.*`` / ``head.*``).

torchvision keeps the network as one flat ``features`` list: the stem, then every inverted residual, then the last
1x1 conv; the presets split the same blocks into NetsPresso's stages, so block ``n`` of the list is block ``j`` of
stage ``s`` by the stage lengths. Inside a block the layers are in the same order (expansion, depthwise,
squeeze-excitation, projection), conv and BatchNorm as ``K.0`` / ``K.1`` where ours wrap them as
``K.block.conv`` / ``K.block.norm``. The classifier's two linear layers are ``classifier.0`` and ``classifier.3``."""
from __future__ import annotations

import re
from typing import Mapping, Optional

import torch

from nptrain.converter_kit import convert_by_rule

from np_plugin_mobilenetv3.presets import LARGE, SMALL

_PART = {"0": "conv", "1": "norm"}


def _rule(stages: list):
    places = [(s, j) for s, stage in enumerate(stages) for j in range(len(stage))]
    last = (len(stages) - 1, len(stages[-1]))  # the final 1x1 conv, appended to the last stage

    def target(key: str) -> Optional[str]:
        m = re.fullmatch(r"features\.(\d+)\.([01])\.(.+)", key)  # the stem and the last conv
        if m:
            n = int(m[1])
            if n == 0:
                return f"backbone.conv_first.block.{_PART[m[2]]}.{m[3]}"
            if n == len(places) + 1:
                return f"backbone.stages.{last[0]}.{last[1]}.block.{_PART[m[2]]}.{m[3]}"
            return None
        m = re.fullmatch(r"features\.(\d+)\.block\.(\d+)\.(.+)", key)
        if m and 1 <= int(m[1]) <= len(places):
            s, j = places[int(m[1]) - 1]
            inner = re.fullmatch(r"([01])\.(.+)", m[3])
            tail = f"block.{_PART[inner[1]]}.{inner[2]}" if inner else m[3]  # fc1 / fc2 keep their names
            return f"backbone.stages.{s}.{j}.block.{m[2]}.{tail}"
        m = re.fullmatch(r"classifier\.([03])\.(weight|bias)", key)
        if m:
            return f"head.{'hidden.0' if m[1] == '0' else 'classifier'}.{m[2]}"
        return None

    return target


def from_torchvision(state_dict: Mapping[str, torch.Tensor], *, preset: str, keep_head: bool = True) -> dict:
    """Convert a torchvision ``mobilenet_v3_small`` / ``_large`` state dict; any unmapped, unfilled or misshapen key
    raises (a small file given for the large preset says so)."""
    stages = SMALL if preset == "mobilenet_v3_small" else LARGE
    return convert_by_rule(state_dict, _rule(stages), source="torchvision", preset=preset, keep_head=keep_head)
