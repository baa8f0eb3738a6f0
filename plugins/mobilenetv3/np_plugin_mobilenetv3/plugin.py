"""Entry module (group ``nptrain``): records only; model code loads when a model is built."""
from __future__ import annotations

from nptrain import hookimpl
from nptrain.records import BackboneRecord, ConverterRecord

from np_plugin_mobilenetv3.params import MobileNetV3Params, MobileNetV3Stage
from np_plugin_mobilenetv3.presets import presets


@hookimpl
def nptrain_backbones():
    return [BackboneRecord(name="mobilenetv3", factory="np_plugin_mobilenetv3.model:build", params=MobileNetV3Params,
                           stage_params=MobileNetV3Stage,
                           description="MobileNetV3 (Howard et al. 2019): inverted residuals with squeeze-excitation "
                                       "and hard-swish, NetsPresso Trainer's stage_params layout.")]


@hookimpl
def nptrain_presets():
    return presets()


@hookimpl
def nptrain_converters():
    return [ConverterRecord(name="torchvision", presets=("mobilenet_v3_small", "mobilenet_v3_large"),
                            factory="np_plugin_mobilenetv3.convert:from_torchvision",
                            description="torchvision.models.mobilenet_v3_small / _large state dicts")]
