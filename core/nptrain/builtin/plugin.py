"""The built-in providers, registered through the same hooks as any plugin."""
from __future__ import annotations

from nptrain import hookimpl
from nptrain.builtin.params import (
    CrossEntropyParams, FCConvHeadParams, FCHeadParams, FCNHeadParams, FocalLossParams, FPNParams,
    SegCrossEntropyParams, SimpleCNNParams, SimpleCNNStage,
)
from nptrain.builtin.transform_params import (
    CenterCropParams, ColorJitterParams, FlipParams, MixingParams, NormalizeParams, PadParams, RandomCropParams,
    RandomResizedCropParams, ResizeParams,
)
from nptrain.builtin.tasks import builtin_task
from nptrain.records import BackboneRecord, HeadRecord, LossRecord, NeckRecord, PresetRecord, TransformRecord


@hookimpl
def nptrain_tasks():
    return [
        builtin_task("classification", "ClassificationModel", "nptrain.data.datasets:build_dataset",
                     "nptrain.training.metrics:classification_metric", metric_names=("top1_accuracy", "top5_accuracy"),
                     default_loss="cross_entropy", plots=("confusion", "samples"), label="file",
                     description="One class per image: class folders, or images plus a CSV of labels."),
        builtin_task("segmentation", "SegmentationModel", "nptrain.data.segmentation:build_seg_dataset",
                     "nptrain.training.metrics:segmentation_metric", metric_names=("miou", "pixel_accuracy"),
                     default_loss="seg_cross_entropy", plots=("confusion", "samples"), label="folder",
                     label_hint="segmentation needs both image (folder of images) and label (folder of masks, "
                                "matched by file stem)",
                     description="A class per pixel: images plus a folder of masks."),
    ]


@hookimpl
def nptrain_heads():
    return [
        HeadRecord(name="fc", factory="nptrain.components.fc_head:build", params=FCHeadParams,
                   tasks=("classification",),
                   description="Global-average-pool + linear classifier (num_layers > 1 adds hidden layers)."),
        HeadRecord(name="fc_conv", factory="nptrain.components.fc_conv_head:build", params=FCConvHeadParams,
                   tasks=("classification",),
                   description="Pool, then 1x1 conv-norm-act layers and a 1x1 conv to the classes (MobileNetV4's head)."),
        HeadRecord(name="fcn", factory="nptrain.components.fcn_head:build", params=FCNHeadParams,
                   tasks=("segmentation",),
                   description="FCN-style segmentation head: levels summed at the finest stride, 3x3 conv-BN-act, 1x1 classifier."),
    ]


@hookimpl
def nptrain_necks():
    return [
        NeckRecord(name="fpn", factory="nptrain.components.fpn:build", params=FPNParams,
                   tasks=("segmentation", "detection"), description="Feature pyramid network (lateral + top-down)."),
    ]


@hookimpl
def nptrain_losses():
    return [
        LossRecord(name="cross_entropy", factory="nptrain.components.losses:build_cross_entropy",
                   params=CrossEntropyParams, tasks=("classification",),
                   description="Cross entropy with label smoothing; accepts soft (mixup/cutmix) targets."),
        LossRecord(name="seg_cross_entropy", factory="nptrain.components.losses:build_seg_cross_entropy",
                   params=SegCrossEntropyParams, tasks=("segmentation",),
                   description="Pixel-wise cross entropy with ignore_index and optional class weights."),
        LossRecord(name="focal_loss", factory="nptrain.components.losses:build_focal_loss",
                   params=FocalLossParams, tasks=("classification",),
                   description="Sigmoid focal loss over one-hot (or mixed) targets; down-weights easy examples."),
    ]


@hookimpl
def nptrain_backbones():
    return [
        BackboneRecord(name="simple_cnn", factory="nptrain.components.simple_cnn:build", params=SimpleCNNParams,
                       stage_params=SimpleCNNStage,
                       description="Small residual CNN (4 stages, strides 4-32); the core's own backbone."),
    ]


@hookimpl
def nptrain_presets():
    return [
        PresetRecord(name="simple_cnn", task="classification", default_input_size=32,
                     architecture={"backbone": {"name": "simple_cnn"}, "head": {"name": "fc"}},
                     description="simple_cnn + fc: trains on the digits quickstart in about a minute."),
        # the core's own segmentation model, so the dense path trains and exports without plugins
        PresetRecord(name="simple_cnn_seg", task="segmentation", default_input_size=64,
                     architecture={"backbone": {"name": "simple_cnn"},
                                   "neck": {"name": "fpn", "params": {"out_channels": 64, "num_outs": 4}},
                                   "head": {"name": "fcn", "params": {"intermediate_channels": 64}}},
                     losses=({"criterion": "seg_cross_entropy"},),
                     description="simple_cnn + fpn + fcn (output stride 4): trains on `nptrain data shapes` in seconds."),
    ]


def _transform(name: str, cls: str, params: type, description: str, **kw) -> TransformRecord:
    return TransformRecord(name=name, factory=f"nptrain.data.transforms:{cls}.from_params", params=params,
                           description=description, **kw)


@hookimpl
def nptrain_transforms():
    return [
        _transform("resize", "Resize", ResizeParams, "Resize to size ([h, w] or int; resize_criteria short|long keeps the aspect)."),
        _transform("randomresizedcrop", "RandomResizedCrop", RandomResizedCropParams,
                   "Crop of random area and aspect ratio, resized to size."),
        _transform("randomhorizontalflip", "RandomHorizontalFlip", FlipParams, "Mirror left-right with probability p."),
        _transform("randomverticalflip", "RandomVerticalFlip", FlipParams, "Mirror top-bottom with probability p."),
        _transform("colorjitter", "ColorJitter", ColorJitterParams, "Random brightness, contrast, saturation and hue."),
        _transform("normalize", "Normalize", NormalizeParams, "(x - mean) / std per channel."),
        _transform("centercrop", "CenterCrop", CenterCropParams, "The central size region (zero-padded if smaller)."),
        _transform("pad", "Pad", PadParams, "Pad to at least size, or by padding on every side."),
        _transform("randomcrop", "RandomCrop", RandomCropParams, "A random size crop (padded first if smaller)."),
        _transform("mixing", "Mixing", MixingParams, "Mixup and/or cutmix on whole training batches.",
                   tasks=("classification",), batch=True),
    ]
