"""Entry module (group ``nptrain``): records only; model code loads when a model is built."""
from __future__ import annotations

from nptrain import hookimpl
from nptrain.records import BackboneRecord, ConverterRecord

from np_plugin_resnet.params import ResNetParams, ResNetStage
from np_plugin_resnet.presets import DEPTHS, presets


@hookimpl
def nptrain_backbones():
    return [BackboneRecord(name="resnet", factory="np_plugin_resnet.model:build", params=ResNetParams,
                           stage_params=ResNetStage,
                           description="ResNet (basic/bottleneck blocks, dilation or pooling instead of stride).")]


@hookimpl
def nptrain_presets():
    return presets()


@hookimpl
def nptrain_converters():
    return [ConverterRecord(name="torchvision", presets=tuple(f"resnet{d}" for d in DEPTHS),
                            factory="np_plugin_resnet.convert:from_torchvision",
                            description="torchvision.models.resnet{18,34,50,101} state dicts")]
