"""The built-in detection providers, registered through the same hooks as any plugin.

Kept apart from :mod:`nptrain.builtin.plugin` so the detection family can be reviewed and
switched on as one unit; like every entry module it imports no model code.
"""
from __future__ import annotations

from nptrain import hookimpl
from nptrain.builtin.tasks import builtin_task
from nptrain.builtin.detection_params import (
    AnchorDecoupledHeadParams, AnchorFreeDecoupledHeadParams, CSPDarknetParams, RetinaNetLossParams,
    YOLOPAFPNParams, YOLOXLossParams,
)
from nptrain.records import (
    BackboneRecord, ConverterRecord, HeadRecord, LossRecord, NeckRecord, PresetRecord,
)


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
        HeadRecord(name="anchor_decoupled_head", factory="nptrain.detection.retina_head:build",
                   params=AnchorDecoupledHeadParams, tasks=("detection",),
                   description="RetinaNet head (anchors per level, shared class/box convs); same decoded output."),
    ]


@hookimpl
def nptrain_tasks():
    return [
        builtin_task("detection", "DetectionModel", "nptrain.detection.dataset:build_det_dataset",
                     "nptrain.detection.metrics:detection_metric",
                     metric_names=("map50", "map75", "map50_95", "precision50", "recall50"), default_loss="yolox_loss",
                     plots=("pr_curve", "samples"), label="either",
                     label_hint="detection needs image (folder of images) and label (a folder of YOLO .txt files, "
                                "or a COCO .json file)",
                     description="Boxes and classes: images plus YOLO .txt labels or a COCO .json."),
    ]


@hookimpl
def nptrain_losses():
    return [
        LossRecord(name="yolox_loss", factory="nptrain.detection.loss:build", params=YOLOXLossParams,
                   tasks=("detection",),
                   description="SimOTA assignment; IoU + objectness BCE + IoU-aware class BCE (+ optional L1)."),
        LossRecord(name="retinanet_loss", factory="nptrain.detection.retina_loss:build", params=RetinaNetLossParams,
                   tasks=("detection",),
                   description="RetinaNet: IoU-matched anchors, sigmoid focal loss on classes + L1 on box deltas."),
    ]


def _yolox(dep_mul: float, wid_mul: float, depthwise: bool = False) -> dict:
    act = {"act_type": "silu", "depthwise": depthwise}
    return {"backbone": {"name": "cspdarknet", "params": {**act, "dep_mul": dep_mul, "wid_mul": wid_mul}},
            "neck": {"name": "yolopafpn", "params": {**act, "dep_mul": dep_mul}},
            "head": {"name": "anchor_free_decoupled_head", "params": dict(act)}}


# name: (dep_mul, wid_mul, depthwise, default input size, parameters at 80 classes). The multipliers are
# YOLOX's exps/default/*.py; the counts follow from its construction rules (checked in tests/detection)
YOLOX_SIZES = {
    "yolox_nano": (0.33, 0.25, True, 416, 912_159),
    "yolox_tiny": (0.33, 0.375, False, 416, 5_055_855),
    "yolox_s": (0.33, 0.5, False, 640, 8_968_255),
    "yolox_m": (0.67, 0.75, False, 640, 25_326_495),
    "yolox_l": (1.0, 1.0, False, 640, 54_208_895),
    "yolox_x": (1.33, 1.25, False, 640, 99_071_455),
}


@hookimpl
def nptrain_presets():
    out = []
    for name, (dep, wid, dw, size, params) in YOLOX_SIZES.items():
        kind = "depthwise cspdarknet" if dw else "cspdarknet"
        out.append(PresetRecord(
            name=name, task="detection", default_input_size=size, architecture=_yolox(dep, wid, depthwise=dw),
            losses=({"criterion": "yolox_loss"},),
            description=f"YOLOX-{name[6:]}: {kind} (dep {dep}, wid {wid}) + yolopafpn + decoupled head; "
                        f"{params / 1e6:.2f}M params at 80 classes."))
    return out


@hookimpl
def nptrain_converters():
    return [ConverterRecord(name="megvii", presets=tuple(YOLOX_SIZES), factory="nptrain.detection.megvii:from_megvii",
                            description="Megvii-BaseDetection/YOLOX checkpoints (yolox_nano.pth … yolox_x.pth, {'model': …})")]
