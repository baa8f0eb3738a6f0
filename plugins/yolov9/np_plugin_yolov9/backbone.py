"""The GELAN backbone in NetsPresso Trainer's layout (``conv_stem.block.conv``, ``stages.<s>.<b>.…``): a strided
stem conv, then the stages' block lists (:mod:`np_plugin_yolov9.params`). Forward returns the stages
``return_stage_idx`` names (default: the last). Without ``stage_params``, GELAN-tiny's."""
from __future__ import annotations

from torch import nn

from nptrain.layers import returned_stages
from nptrain.records import Feature, FeatureInfo

from np_plugin_yolov9.blocks import ELAN, SPPELAN, ADown, AConv, conv
from np_plugin_yolov9.params import Block, GELANParams, GELANStage, stride_of


def make_block(cin: int, block: Block, act: str) -> nn.Module:
    f = block.fields
    if block.kind == "conv":
        return conv(cin, f["out_channels"], f["kernel_size"], f["stride"], act=act)
    if block.kind == "elan":
        return ELAN(cin, f["out_channels"], f["part_channels"], act)
    if block.kind == "repncspelan":
        return ELAN(cin, f["out_channels"], f["part_channels"], act, depth=f["depth"], use_identity=f["use_identity"])
    if block.kind == "aconv":
        return AConv(cin, f["out_channels"], act)
    if block.kind == "adown":
        if cin % 2:
            raise ValueError(f"an adown block splits its input in two halves: its input has {cin} channels")
        return ADown(cin, f["out_channels"], act)
    return SPPELAN(cin, f["out_channels"], act, hidden=f["hidden_channels"])


class GELAN(nn.Module):
    def __init__(self, params: GELANParams, stages: list[GELANStage]) -> None:
        super().__init__()
        if not stages:
            # lazy: the preset tables are only needed without stage_params (GELAN-tiny's then)
            from np_plugin_yolov9.presets import SIZES

            stages = [GELANStage.from_config(s) for s in SIZES["tiny"][1]]
        p = params
        self.conv_stem = conv(3, p.stem_out_channels, p.stem_kernel_size, p.stem_stride, act=p.act_type)
        self.return_idx = returned_stages(p.return_stage_idx or [len(stages) - 1], len(stages))
        cin, stride, built, features = p.stem_out_channels, p.stem_stride, [], []
        for stage in stages:
            blocks = []
            for block in stage.blocks:
                blocks.append(make_block(cin, block, p.act_type))
                cin, stride = block.fields["out_channels"], stride * stride_of(block)
            built.append(nn.Sequential(*blocks))
            features.append(Feature(cin, stride))
        self.stages = nn.ModuleList(built)
        self.feature_info = FeatureInfo(tuple(features[k] for k in self.return_idx))

    def forward(self, x):
        x = self.conv_stem(x)
        out = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.return_idx:
                out.append(x)
        return tuple(out)


def build(params: GELANParams, stage_params: list, task: str) -> GELAN:
    return GELAN(params, stage_params)
