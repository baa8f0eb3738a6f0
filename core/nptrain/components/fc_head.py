"""``fc`` classification head: pool the last feature (if it is a map) and classify."""
from __future__ import annotations

import torch
from torch import nn

from nptrain.builtin.params import FCHeadParams
from nptrain.layers import make_activation
from nptrain.records import FeatureInfo


class FCHead(nn.Module):
    def __init__(self, params: FCHeadParams, in_features: FeatureInfo, num_classes: int) -> None:
        super().__init__()
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

    def forward(self, features):
        x = self.flatten(self.pool(features[-1]))
        if hasattr(self, "hidden"):
            x = self.hidden(x)
        return self.classifier(self.dropout(x))


def build(params: FCHeadParams, in_features: FeatureInfo, num_classes: int, task: str) -> FCHead:
    return FCHead(params, in_features, num_classes)
