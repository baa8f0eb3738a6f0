"""The built-in detection providers, registered through the same hooks as any plugin.

Kept apart from :mod:`nptrain.builtin.plugin` so the detection family can be reviewed and
switched on as one unit; like every entry module it imports no model code.
"""
from __future__ import annotations

from nptrain import hookimpl
from nptrain.builtin.detection_params import (
    AnchorFreeDecoupledHeadParams, CSPDarknetParams, YOLOPAFPNParams, YOLOXLossParams,
)
from nptrain.records import BackboneRecord, HeadRecord, LossRecord, NeckRecord, PresetRecord


@hookimpl
def nptrain_backbones():
    return [
        BackboneRecord(name="cspdarknet", factory="nptrain.detection.cspdarknet:build", params=CSPDarknetParams,
                       tasks=("classification", "segmentation", "detection"),
                       description="YOLOX CSPDarknet (Focus stem, CSP stages, SPP); dark3-dark5 at strides 8/16/32."),
    ]


@hookimpl
def nptrain_necks():
    return [
        NeckRecord(name="yolopafpn", factory="nptrain.detection.pafpn:build", params=YOLOPAFPNParams,
                   tasks=("segmentation", "detection"),
                   description="YOLOX path-aggregation FPN (top-down + bottom-up CSP fusion); keeps input widths."),
    ]


@hookimpl
def nptrain_heads():
    return [
        HeadRecord(name="anchor_free_decoupled_head", factory="nptrain.detection.head:build",
                   params=AnchorFreeDecoupledHeadParams, tasks=("detection",),
                   description="YOLOX decoupled head; outputs (B, N, 5 + classes) boxes decoded to pixels + logits."),
    ]


@hookimpl
def nptrain_losses():
    return [
        LossRecord(name="yolox_loss", factory="nptrain.detection.loss:build", params=YOLOXLossParams,
                   tasks=("detection",),
                   description="SimOTA assignment; IoU + objectness BCE + IoU-aware class BCE (+ optional L1)."),
    ]


def _yolox(dep_mul: float, wid_mul: float, depthwise: bool = False) -> dict:
    act = {"act_type": "silu", "depthwise": depthwise}
    return {"backbone": {"name": "cspdarknet", "params": {**act, "dep_mul": dep_mul, "wid_mul": wid_mul}},
            "neck": {"name": "yolopafpn", "params": {**act, "dep_mul": dep_mul}},
            "head": {"name": "anchor_free_decoupled_head", "params": dict(act)}}


@hookimpl
def nptrain_presets():
    return [
        PresetRecord(name="yolox_nano", task="detection", default_input_size=416,
                     architecture=_yolox(0.33, 0.25, depthwise=True), losses=({"criterion": "yolox_loss"},),
                     description="YOLOX-nano: depthwise cspdarknet (dep 0.33, wid 0.25) + yolopafpn + decoupled head; "
                                 "0.91M params at 80 classes."),
        PresetRecord(name="yolox_tiny", task="detection", default_input_size=416, architecture=_yolox(0.33, 0.375),
                     losses=({"criterion": "yolox_loss"},),
                     description="YOLOX-tiny: cspdarknet (dep 0.33, wid 0.375) + yolopafpn + decoupled head; 5.06M params at 80 classes."),
        PresetRecord(name="yolox_s", task="detection", default_input_size=640, architecture=_yolox(0.33, 0.5),
                     losses=({"criterion": "yolox_loss"},),
                     description="YOLOX-s: cspdarknet (dep 0.33, wid 0.5) + yolopafpn + decoupled head; 8.97M params at 80 classes."),
    ]
