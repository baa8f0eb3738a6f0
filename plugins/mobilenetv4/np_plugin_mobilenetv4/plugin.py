"""Entry module (group ``nptrain``): records only; model code loads when a model is built."""
from __future__ import annotations

from nptrain import hookimpl
from nptrain.records import BackboneRecord, ConverterRecord

from np_plugin_mobilenetv4.params import MobileNetV4Params, MobileNetV4Stage

# the presets' sizes (presets.TABLES keys; kept here so listing converters loads no block tables)
SIZES = ("conv_small", "conv_medium", "conv_large", "hybrid_medium", "hybrid_large")


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


@hookimpl
def nptrain_converters():
    return [ConverterRecord(name="timm", presets=tuple(f"mobilenetv4_{s}" for s in SIZES),
                            factory="np_plugin_mobilenetv4.convert:from_timm",
                            description="timm's mobilenetv4_* state dicts (Hugging Face hub timm/mobilenetv4_*)")]
