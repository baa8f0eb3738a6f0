"""Entry module (group ``nptrain``): records only; model code loads when a model is built."""
from __future__ import annotations

from nptrain import hookimpl
from nptrain.records import BackboneRecord

from np_plugin_mobilenetv4.params import MobileNetV4Params, MobileNetV4Stage


@hookimpl
def nptrain_backbones():
    return [BackboneRecord(name="mobilenetv4", factory="np_plugin_mobilenetv4.model:build", params=MobileNetV4Params,
                           stage_params=MobileNetV4Stage,
                           description="MobileNetV4 (Qin et al. 2024): universal inverted bottlenecks and mobile "
                                       "multi-query attention, NetsPresso Trainer's block lists.")]


@hookimpl
def nptrain_presets():
    # lazy: the block tables are data, read only when presets are listed
    from np_plugin_mobilenetv4.presets import presets

    return presets()
