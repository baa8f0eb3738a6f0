"""Entry module (group ``nptrain``): returns records only; model code loads when a model is built."""
from __future__ import annotations

from nptrain import hookimpl
from nptrain.declare import preset_family
from nptrain.records import BackboneRecord, ConverterRecord

from np_plugin_tinynet.params import TinynetParams, TinynetStage


@hookimpl
def nptrain_backbones():
    return [BackboneRecord(name="tinynet", factory="np_plugin_tinynet.model:build", params=TinynetParams,
                           stage_params=TinynetStage, description="Tinynet: depthwise-separable conv stages.")]


@hookimpl
def nptrain_presets():
    # one record per width and task; another width is one more entry, e.g. "m": {"stem_channels": 32}
    return preset_family("tinynet_{width}", backbone="tinynet", widths={"s": {}},
                         tasks=("classification",),
                         default_input_size=32, description="tinynet + {task} head.")


@hookimpl
def nptrain_converters():
    return [ConverterRecord(name="reference", presets=("tinynet_s",), factory="np_plugin_tinynet.convert:from_reference",
                            description="original naming (features.N.*, fc.*) to ours")]
