"""``fc`` classification head: pool the last feature (if it is a map) and classify."""
from __future__ import annotations

import re
from typing import Mapping, Sequence

from torch import nn

from nptrain.builtin.params import FCHeadParams
from nptrain.layers import make_activation
from nptrain.records import FeatureInfo


class FCHead(nn.Module):
    def __init__(self, params: FCHeadParams, in_features: FeatureInfo, num_classes: int) -> None:
        super().__init__()
        self.num_layers = params.num_layers
        last = in_features.features[-1]
        self.pool = nn.AdaptiveAvgPool2d(1) if last.stride is not None else nn.Identity()
        self.flatten = nn.Flatten(1) if last.stride is not None else nn.Identity()
        self.dropout = nn.Dropout(params.dropout_prob)
        if params.num_layers == 1:
            self.classifier = nn.Linear(last.channels, num_classes)
        else:
            layers: list[nn.Module] = []
            width = last.channels
            for _ in range(params.num_layers - 1):
                layers += [nn.Linear(width, params.intermediate_channels), make_activation(params.act_type),
                           nn.Dropout(params.dropout_prob)]
                width = params.intermediate_channels
            self.hidden = nn.Sequential(*layers)
            self.classifier = nn.Linear(width, num_classes)

    def netspresso_keys(self, keys: Sequence[str]) -> Mapping[str, str]:
        """NetsPresso's ``fc`` keeps ``[Linear, act] * (num_layers - 1) + [Dropout, Linear]`` in one
        ``classifier`` Sequential: its index ``2i`` is our ``hidden.{3i}``, the last is our ``classifier``."""
        out = {}
        for key in keys:
            m = re.fullmatch(r"classifier\.(\d+)\.(weight|bias)", key)
            if m:
                i, leaf = int(m[1]), m[2]
                out[key] = f"hidden.{3 * (i // 2)}.{leaf}" if i < 2 * (self.num_layers - 1) else f"classifier.{leaf}"
        return out

    def forward(self, features):
        x = self.flatten(self.pool(features[-1]))
        if hasattr(self, "hidden"):
            x = self.hidden(x)
        return self.classifier(self.dropout(x))


def build(params: FCHeadParams, in_features: FeatureInfo, num_classes: int, task: str) -> FCHead:
    return FCHead(params, in_features, num_classes)
