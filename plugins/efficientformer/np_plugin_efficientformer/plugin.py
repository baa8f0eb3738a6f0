"""Entry module (group ``nptrain``): records only; model and converter code load when used (no torch import)."""
from __future__ import annotations

from nptrain import hookimpl
from nptrain.records import BackboneRecord, ConverterRecord, HeadRecord

from np_plugin_efficientformer.params import EfficientFormerHeadParams, EfficientFormerParams, EfficientFormerStage
from np_plugin_efficientformer.presets import LAYOUTS, presets


@hookimpl
def nptrain_backbones():
    return [BackboneRecord(name="efficientformer", factory="np_plugin_efficientformer.model:build",
                           params=EfficientFormerParams, stage_params=EfficientFormerStage,
                           tasks=("classification", "segmentation", "detection"),
                           description="EfficientFormer v1 (snap-research): conv stem, pooling Meta4D blocks, "
                                       "attention Meta3D blocks with learned attention biases at the end.")]


@hookimpl
def nptrain_heads():
    return [HeadRecord(name="efficientformer_head", factory="np_plugin_efficientformer.model:build_head",
                       params=EfficientFormerHeadParams, tasks=("classification",),
                       description="Mean-pooled linear classifier with an optional distillation classifier "
                                   "(eval output: the mean of both).")]


@hookimpl
def nptrain_presets():
    return presets()


@hookimpl
def nptrain_converters():
    names = tuple(LAYOUTS)
    return [ConverterRecord(name="snap", presets=names, factory="np_plugin_efficientformer.convert:from_snap",
                            description="snap-research EfficientFormer (v1) checkpoints; dist_head kept as "
                                        "head.dist_classifier"),
            ConverterRecord(name="snap_nodist", presets=names,
                            factory="np_plugin_efficientformer.convert:from_snap_nodist",
                            description="snap-research EfficientFormer (v1) checkpoints with dist_head dropped, "
                                        "for a model whose head has distillation: false")]
