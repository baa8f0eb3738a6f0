"""Entry module (group ``nptrain``): records only; model and converter code load when used (no torch import)."""
from __future__ import annotations

from nptrain import hookimpl
from nptrain.records import BackboneRecord, ConverterRecord

from np_plugin_mobilevit.params import MobileViTParams, MobileViTStageParams
from np_plugin_mobilevit.presets import PARAMS, presets


@hookimpl
def nptrain_backbones():
    return [BackboneRecord(name="mobilevit", factory="np_plugin_mobilevit.model:build", params=MobileViTParams,
                           stage_params=MobileViTStageParams, tasks=("classification",),
                           description="MobileViT v1 (apple/ml-cvnets): MobileNetV2 blocks and MobileViT blocks "
                                       "(local conv, transformer over unfolded patches, fusion).")]


@hookimpl
def nptrain_presets():
    return presets()


@hookimpl
def nptrain_converters():
    return [ConverterRecord(name="mlcvnets", presets=tuple(PARAMS), factory="np_plugin_mobilevit.convert:from_mlcvnets",
                            description="apple/ml-cvnets MobileViT (modes small, x_small, xx_small) state dicts")]
