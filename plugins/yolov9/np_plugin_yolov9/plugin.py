"""Entry module (group ``nptrain``): records only; model code loads when a model is built."""
from __future__ import annotations

from nptrain import hookimpl
from nptrain.records import BackboneRecord, ConverterRecord, HeadRecord, LossRecord, NeckRecord

from np_plugin_yolov9.params import (GELANParams, GELANStage, YOLODetectionHeadParams, YOLOv9FPNParams,
                                     YOLOv9LossParams)


@hookimpl
def nptrain_backbones():
    return [BackboneRecord(name="gelan", factory="np_plugin_yolov9.backbone:build", params=GELANParams,
                           stage_params=GELANStage, tasks=("classification", "detection"),
                           description="GELAN (YOLOv9's backbone): ELAN / RepNCSPELAN stages, AConv / ADown "
                                       "down-steps; NetsPresso Trainer's block lists.")]


@hookimpl
def nptrain_necks():
    return [NeckRecord(name="yolov9fpn", factory="np_plugin_yolov9.neck:build", params=YOLOv9FPNParams,
                       tasks=("detection",),
                       description="YOLOv9's path aggregation: SPPELAN, top-down and bottom-up RepNCSPELAN fusions.")]


@hookimpl
def nptrain_heads():
    return [HeadRecord(name="yolo_detection_head", factory="np_plugin_yolov9.head:build",
                       params=YOLODetectionHeadParams, tasks=("detection",),
                       description="YOLOv9's anchor-free head: DFL side bins + classes per level; outputs "
                                   "(B, N, 5 + classes) boxes decoded to pixels.")]


@hookimpl
def nptrain_losses():
    return [LossRecord(name="yolov9_loss", factory="np_plugin_yolov9.loss:build", params=YOLOv9LossParams,
                       tasks=("detection",),
                       description="YOLOv9: task-aligned assignment; class BCE + CIoU + distribution focal loss.")]


@hookimpl
def nptrain_presets():
    # lazy: the block tables are data, read only when presets are listed
    from np_plugin_yolov9.presets import presets

    return presets()


@hookimpl
def nptrain_converters():
    return [ConverterRecord(name="yolov9", presets=tuple(f"yolov9_{s}" for s in ("tiny", "s", "m", "c")),
                            factory="np_plugin_yolov9.convert:from_original",
                            description="the original YOLOv9 weights (WongKinYiu's YOLO, MultimediaTechLab/YOLO "
                                        "v9-t/s/m/c state dicts; the auxiliary branch dropped)")]
