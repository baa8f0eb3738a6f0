"""Entry module (group ``nptrain``): records only; model and converter code load when used."""
from __future__ import annotations

from nptrain import hookimpl
from nptrain.records import BackboneRecord, ConverterRecord

from np_plugin_vit.params import ViTParams
from np_plugin_vit.presets import presets


@hookimpl
def nptrain_backbones():
    return [BackboneRecord(name="vit", factory="np_plugin_vit.model:build", params=ViTParams,
                           tasks=("classification",),
                           description="Vision Transformer (ml-cvnets layout: conv stem, CLS token, pre-norm blocks).")]


@hookimpl
def nptrain_presets():
    return presets()


@hookimpl
def nptrain_converters():
    return [ConverterRecord(name="mlcvnets", presets=("vit_tiny",), factory="np_plugin_vit.convert:from_mlcvnets",
                            description="apple/ml-cvnets VisionTransformer (mode tiny) state dicts")]
