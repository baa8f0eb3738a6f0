"""Entry module (group ``nptrain``): records only; model code loads when a model is built."""
from __future__ import annotations

from nptrain import hookimpl
from nptrain.records import BackboneRecord, ConverterRecord, HeadRecord, LossRecord, NeckRecord

from np_plugin_yolofastest.params import (LightFPNParams, ShuffleNetV2Params, YOLOFastestHeadV2Params,
                                          YOLOFastestLossParams)


@hookimpl
def nptrain_backbones():
    return [BackboneRecord(name="shufflenetv2", factory="np_plugin_yolofastest.backbone:build",
                           params=ShuffleNetV2Params, tasks=("classification", "detection"),
                           description="ShuffleNetV2 (0.5x-2.0x) as YOLO-FastestV2 uses it; detection: strides 16, 32.")]


@hookimpl
def nptrain_necks():
    return [NeckRecord(name="lightfpn", factory="np_plugin_yolofastest.neck:build", params=LightFPNParams,
                       tasks=("detection",),
                       description="YOLO-FastestV2's two-level FPN: 1x1 convs over the deepest map and its "
                                   "upsampled concatenation with the previous one.")]


@hookimpl
def nptrain_heads():
    return [HeadRecord(name="yolo_fastest_head_v2", factory="np_plugin_yolofastest.head:build",
                       params=YOLOFastestHeadV2Params, tasks=("detection",),
                       description="YOLO-FastestV2's anchor head (separable 5x5 towers); outputs (B, N, 5 + classes) "
                                   "boxes decoded to pixels.")]


@hookimpl
def nptrain_losses():
    return [LossRecord(name="yolofastest_loss", factory="np_plugin_yolofastest.loss:build",
                       params=YOLOFastestLossParams, tasks=("detection",),
                       description="YOLOX's loss (SimOTA, GIoU, objectness and class BCE) on YOLO-FastestV2's boxes.")]


@hookimpl
def nptrain_presets():
    from np_plugin_yolofastest.presets import presets

    return presets()


@hookimpl
def nptrain_converters():
    return [ConverterRecord(name="yolofastest", presets=("yolo_fastest_v2",),
                            factory="np_plugin_yolofastest.convert:from_yolofastest",
                            description="the original dog-qiuqiu/Yolo-FastestV2 files (a detector, or its ImageNet "
                                        "backbone.pth)")]
