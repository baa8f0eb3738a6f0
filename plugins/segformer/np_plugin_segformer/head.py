"""``all_mlp_decoder``: SegFormer's all-MLP decode head, usable after any multi-scale backbone.

Every feature is projected to ``intermediate_channels`` by a per-token Linear (a 1x1 projection,
kept as ``nn.Linear`` so checkpoints load unchanged), upsampled to the first feature's size,
concatenated deepest-first (the original order: the fuse conv's input channels depend on it),
fused by 1x1 conv + BN + ReLU and classified by a 1x1 conv. Logits come at the first feature's
stride; the segmentation task model upsamples them to the input size.

That is the literal form. The forward used for training and inference computes the same numbers in
another order (:class:`nptrain.layers.Rearranged`): projection, bilinear upsampling and the 1x1 fuse
conv are all linear, so each feature is multiplied by its slice of the fuse conv composed with its
projection *at its own resolution*, and only the ``intermediate_channels``-wide sums are upsampled and
added. The concatenation of 4 x 256 channels at 1/4 of the input and the 1024 -> 256 fuse conv over it,
most of SegFormer-B0's arithmetic at 512x512, are never materialised. Bilinear upsampling with
``align_corners=False`` weighs each output pixel by weights that sum to one, so biases pass through it
unchanged and the two forms agree to float rounding (``test_rearranged_head_matches_literal``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nptrain.layers import ConvNormAct, Rearranged
from nptrain.records import FeatureInfo

from np_plugin_segformer.params import AllMLPDecoderParams


def _check_maps(in_features: FeatureInfo) -> None:
    if len(in_features) < 1 or any(f.stride is None for f in in_features.features):
        raise ValueError("all_mlp_decoder needs feature maps (every feature with a stride), got "
                         f"strides {in_features.strides}")


class AllMLPDecoder(Rearranged, nn.Module):
    def __init__(self, params: AllMLPDecoderParams, in_features: FeatureInfo, num_classes: int) -> None:
        super().__init__()
        _check_maps(in_features)
        dim = params.intermediate_channels
        self.linear_c = nn.ModuleList(nn.Linear(c, dim) for c in in_features.channels)
        self.linear_fuse = ConvNormAct(dim * len(in_features), dim, 1, norm="batch_norm", act="relu")
        self.dropout = nn.Dropout(params.classifier_dropout_prob)
        self.classifier = nn.Conv2d(dim, num_classes, 1)

    def forward(self, features):
        x = self._fused(features) if self.rearranged else self._literal(features)
        return self.classifier(self.dropout(x))

    def _literal(self, features):
        size = features[0].shape[-2:]
        projected = []
        for feature, proj in zip(features, self.linear_c):
            y = proj(feature.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
            projected.append(F.interpolate(y, size=size, mode="bilinear", align_corners=False))
        return self.linear_fuse(torch.cat(projected[::-1], dim=1))

    def _fused(self, features):
        size = features[0].shape[-2:]
        fuse = self.linear_fuse.conv.weight.flatten(1)
        # the fuse conv's input columns per feature, deepest feature first (the concatenation order);
        # widths are read from the layers because pruning may leave them unequal
        columns, start = {}, 0
        for i in reversed(range(len(self.linear_c))):
            width = self.linear_c[i].out_features
            columns[i] = (start, start + width)
            start += width
        total = None
        for i, (feature, proj) in enumerate(zip(features, self.linear_c)):
            part = fuse[:, columns[i][0]:columns[i][1]]
            y = F.linear(feature.permute(0, 2, 3, 1), part @ proj.weight, part @ proj.bias).permute(0, 3, 1, 2)
            if i:  # the first feature is already at the output size
                y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
            total = y if total is None else total + y
        if self.linear_fuse.conv.bias is not None:
            total = total + self.linear_fuse.conv.bias.reshape(1, -1, 1, 1)
        return self.linear_fuse.act(self.linear_fuse.norm(total))


class NetsPressoMLPDecoder(nn.Module):
    """``all_mlp_decoder`` with ``style: netspresso``: NetsPresso Trainer 1.x's variant, module for module
    (``linear_c.i.block.{conv,norm}``, ``linear_fuse.block.{conv,norm}``, ``classifier``), so its checkpoints
    load as saved. Each projection is a 1x1 conv without bias + BN + ReLU, and the upsampled projections are
    concatenated shallowest first. The ReLU after each projection is why this one has no rearranged form."""

    def __init__(self, params: AllMLPDecoderParams, in_features: FeatureInfo, num_classes: int) -> None:
        super().__init__()
        _check_maps(in_features)
        dim = params.intermediate_channels
        self.linear_c = nn.ModuleList(_Wrapped(ConvNormAct(c, dim, 1, norm="batch_norm", act="relu"))
                                      for c in in_features.channels)
        self.linear_fuse = _Wrapped(ConvNormAct(dim * len(in_features), dim, 1, norm="batch_norm", act="relu"))
        self.dropout = nn.Dropout(params.classifier_dropout_prob)
        self.classifier = nn.Conv2d(dim, num_classes, 1)

    def forward(self, features):
        size = features[0].shape[-2:]
        projected = [F.interpolate(proj(feature), size=size, mode="bilinear", align_corners=False)
                     for feature, proj in zip(features, self.linear_c)]
        return self.classifier(self.dropout(self.linear_fuse(torch.cat(projected, dim=1))))


class _Wrapped(nn.Module):
    """A conv unit under ``block`` (NetsPresso's ConvLayer key prefix)."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.block = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


def build(params: AllMLPDecoderParams, in_features: FeatureInfo, num_classes: int,
          task: str) -> AllMLPDecoder | NetsPressoMLPDecoder:
    params = params or AllMLPDecoderParams()
    if params.style == "netspresso":
        return NetsPressoMLPDecoder(params, in_features, num_classes)
    return AllMLPDecoder(params, in_features, num_classes)
