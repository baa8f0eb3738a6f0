"""ShuffleNetV2 (Ma et al. 2018) as YOLO-FastestV2 and NetsPresso Trainer 1.4.1 build it (``conv1``,
``stage2…stage4``, ``branch_main`` / ``branch_proj``; BatchNorm eps 1e-5): a stride-2 3×3 conv and a 3×3 max pool,
then three stages of 4, 8 and 4 blocks. A stage's first block halves the resolution with two branches (a depthwise
projection of the input, and 1×1 → depthwise → 1×1), concatenated; the others split the channels (even ones pass,
odd ones through the branch) and concatenate, which shuffles them for the next block.

Detection returns stage3 and stage4 (strides 16, 32), as NetsPresso's; classification the last."""
from __future__ import annotations

import torch
from torch import nn

from nptrain.layers import ConvLayer
from nptrain.records import Feature, FeatureInfo

from np_plugin_yolofastest.params import WIDTHS, ShuffleNetV2Params

REPEATS = (4, 8, 4)


class ShuffleV2Block(nn.Module):
    # torch-pruning 1.6 cannot follow the strided channel split (an index past the tensor: measured), so `nptrain
    # compress` says so in one line instead of breaking the model
    prune_refusal = ("ShuffleNetV2 splits channels by parity (its channel shuffle), which structured pruning does "
                     "not map yet")

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        hidden = cout // 2
        self.stride = stride
        self.branch_main = nn.Sequential(ConvLayer(cin, hidden, 1, act="relu"),
                                         ConvLayer(hidden, hidden, 3, stride, groups=hidden),
                                         ConvLayer(hidden, cout - cin, 1, act="relu"))
        if stride == 2:
            self.branch_proj = nn.Sequential(ConvLayer(cin, cin, 3, stride, groups=cin),
                                             ConvLayer(cin, cin, 1, act="relu"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 2:
            return torch.cat((self.branch_proj(x), self.branch_main(x)), dim=1)
        # the channel shuffle: even channels pass, odd ones go through the branch
        return torch.cat((x[:, 0::2], self.branch_main(x[:, 1::2])), dim=1)


class ShuffleNetV2(nn.Module):
    def __init__(self, params: ShuffleNetV2Params, task: str) -> None:
        super().__init__()
        stem, *widths = WIDTHS[params.model_size]
        self.conv1 = ConvLayer(3, stem, 3, 2, act="relu")
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin, features = stem, []
        for i, (repeat, width) in enumerate(zip(REPEATS, widths)):
            blocks = [ShuffleV2Block(cin if j == 0 else width // 2, width, 2 if j == 0 else 1) for j in range(repeat)]
            setattr(self, f"stage{i + 2}", nn.Sequential(*blocks))
            features.append(Feature(width, 2 ** (i + 3)))
            cin = width
        self.return_idx = (1, 2) if task == "detection" else (2,)
        self.feature_info = FeatureInfo(tuple(features[k] for k in self.return_idx))

    def forward(self, x):
        x = self.maxpool(self.conv1(x))
        c2 = self.stage2(x)
        c3 = self.stage3(c2)
        c4 = self.stage4(c3)
        return (c3, c4) if self.return_idx == (1, 2) else (c4,)


def build(params: ShuffleNetV2Params, stage_params, task: str) -> ShuffleNetV2:
    if stage_params:
        raise ValueError("shufflenetv2 takes no stage_params (its stages are ShuffleNetV2's 4, 8, 4 blocks; "
                         "model_size sets the widths)")
    return ShuffleNetV2(params, task)
