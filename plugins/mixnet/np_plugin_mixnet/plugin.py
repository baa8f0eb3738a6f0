"""Entry module (group ``nptrain``): records only; model code loads when a model is built."""
from __future__ import annotations

from nptrain import hookimpl
from nptrain.records import BackboneRecord, ConverterRecord

from np_plugin_mixnet.params import MixNetParams, MixNetStage
from np_plugin_mixnet.presets import presets


@hookimpl
def nptrain_backbones():
    return [BackboneRecord(name="mixnet", factory="np_plugin_mixnet.model:build", params=MixNetParams,
                           stage_params=MixNetStage,
                           description="MixNet (Tan & Le 2019): mixed-kernel depthwise convs, grouped pointwise "
                                       "convs, squeeze-excitation; NetsPresso Trainer's stage_params layout.")]


@hookimpl
def nptrain_presets():
    return presets()


@hookimpl
def nptrain_converters():
    return [ConverterRecord(name="timm", presets=("mixnet_s", "mixnet_m", "mixnet_l"),
                            factory="np_plugin_mixnet.convert:from_timm",
                            description="timm's mixnet_s / _m / _l state dicts (Hugging Face hub timm/mixnet_*)")]
