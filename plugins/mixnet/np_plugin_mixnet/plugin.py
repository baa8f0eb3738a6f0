"""Entry module (group ``nptrain``): records only; model code loads when a model is built."""
from __future__ import annotations

from nptrain import hookimpl
from nptrain.records import BackboneRecord

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
