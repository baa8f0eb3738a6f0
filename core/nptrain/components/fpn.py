"""``fpn`` neck (Lin et al.): lateral 1×1 convs, top-down nearest upsampling, 3×3 output convs.

``out_channels: ~`` makes it as wide as the deepest input level, which is what NetsPresso Trainer's ``fpn`` always
does (a NetsPresso config is translated to that)."""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from nptrain.builtin.params import FPNParams
from nptrain.records import Feature, FeatureInfo


class FPN(nn.Module):
    def __init__(self, params: FPNParams, in_features: FeatureInfo) -> None:
        super().__init__()
        n_in = len(in_features)
        end = n_in if params.end_level == -1 else params.end_level + 1
        if not 0 <= params.start_level < end <= n_in:
            raise ValueError(f"fpn: start_level/end_level select no input levels out of {n_in}")
        if any(f.stride is None for f in in_features.features):
            raise ValueError("fpn needs feature maps, but the backbone returns pooled vectors")
        self.start, self.end = params.start_level, end
        used = in_features.features[self.start:self.end]
        c = params.out_channels or used[-1].channels
        self.lateral_convs = nn.ModuleList(nn.Conv2d(f.channels, c, 1) for f in used)
        self.fpn_convs = nn.ModuleList(nn.Conv2d(c, c, 3, padding=1) for _ in used)
        n_extra = max(params.num_outs - len(used), 0)
        self.extra_convs = nn.ModuleList(
            nn.Conv2d(used[-1].channels if i == 0 else c, c, 3, stride=2, padding=1) for i in range(n_extra)
        ) if params.add_extra_convs else nn.ModuleList()
        self.n_extra = n_extra
        self.relu_before_extra = params.relu_before_extra_convs
        strides = [f.stride for f in used] + [used[-1].stride * 2 ** (i + 1) for i in range(n_extra)]
        self.feature_info = FeatureInfo(tuple(Feature(c, s) for s in strides))

    def netspresso_keys(self, keys: Sequence[str]) -> Mapping[str, str]:
        """NetsPresso (mmdetection's layout) appends the extra levels' convs to ``fpn_convs``."""
        n = len(self.fpn_convs)
        out = {}
        for key in keys:
            parts = key.split(".")
            if parts[0] == "fpn_convs" and int(parts[1]) >= n:
                out[key] = ".".join(["extra_convs", str(int(parts[1]) - n)] + parts[2:])
        return out

    def forward(self, features):
        inputs = features[self.start:self.end]
        laterals = [conv(x) for conv, x in zip(self.lateral_convs, inputs)]
        for i in range(len(laterals) - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + F.interpolate(laterals[i], size=laterals[i - 1].shape[-2:], mode="nearest")
        outs = [conv(x) for conv, x in zip(self.fpn_convs, laterals)]
        if self.n_extra:
            if len(self.extra_convs):
                x = inputs[-1]
                for conv in self.extra_convs:
                    x = conv(F.relu(x) if self.relu_before_extra and x is not inputs[-1] else x)
                    outs.append(x)
            else:
                for _ in range(self.n_extra):
                    outs.append(F.max_pool2d(outs[-1], 1, stride=2))
        return tuple(outs)


def build(params: FPNParams, in_features: FeatureInfo) -> FPN:
    return FPN(params, in_features)
