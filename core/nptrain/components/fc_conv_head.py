"""``fc_conv`` classification head (NetsPresso Trainer's, MobileNetV4's): pool the last feature to 1x1, then
``num_layers - 1`` 1x1 conv-norm-act layers, dropout, and a 1x1 conv with bias to the classes.

The convs on a 1x1 map are linear layers with a norm between them; keeping them convs keeps NetsPresso's
checkpoints (``classifier.N.block.conv``) and MobileNetV4's published head (a BatchNorm in the hidden layer)."""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn

from nptrain.builtin.params import FCConvHeadParams
from nptrain.layers import ConvNormAct
from nptrain.records import FeatureInfo


class FCConvHead(nn.Module):
    def __init__(self, params: FCConvHeadParams, in_features: FeatureInfo, num_classes: int) -> None:
        super().__init__()
        last = in_features.features[-1]
        self.is_map = last.stride is not None
        layers: list[nn.Module] = []
        width = last.channels
        for _ in range(params.num_layers - 1):
            layers.append(ConvNormAct(width, params.intermediate_channels, 1, norm=params.norm_type,
                                      act=params.act_type))
            width = params.intermediate_channels
        layers.append(nn.Dropout(params.dropout_prob))
        layers.append(ConvNormAct(width, num_classes, 1, bias=True, norm=None, act=None))
        self.classifier = nn.Sequential(*layers)

    def netspresso_keys(self, keys: Sequence[str]) -> Mapping[str, str]:
        """NetsPresso wraps each conv unit's conv and norm in a ``block`` Sequential; the indices agree."""
        return {k: k.replace(".block.", ".") for k in keys if ".block." in k}

    def forward(self, features):
        x = features[-1]
        x = x.mean(dim=(2, 3), keepdim=True) if self.is_map else x[:, :, None, None]
        return torch.flatten(self.classifier(x), 1)


def build(params: FCConvHeadParams, in_features: FeatureInfo, num_classes: int, task: str) -> FCConvHead:
    return FCConvHead(params, in_features, num_classes)
