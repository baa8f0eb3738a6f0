"""Entry module (group ``nptrain``): records only, so listing plugins never imports torch."""
from __future__ import annotations

from nptrain import hookimpl
from nptrain.records import BackboneRecord, ConverterRecord, HeadRecord

from np_plugin_segformer.params import AllMLPDecoderParams, MixTransformerParams, MixTransformerStage
from np_plugin_segformer.presets import VARIANTS, presets


@hookimpl
def nptrain_backbones():
    return [BackboneRecord(name="mixtransformer", factory="np_plugin_segformer.model:build",
                           params=MixTransformerParams, stage_params=MixTransformerStage,
                           tasks=("classification", "segmentation", "detection"),
                           description="SegFormer Mix Transformer (MiT): overlapping patch embeddings, "
                                       "sequence-reduced self-attention, Mix-FFN; 4 maps at strides 4-32.")]


@hookimpl
def nptrain_heads():
    return [HeadRecord(name="all_mlp_decoder", factory="np_plugin_segformer.head:build",
                       params=AllMLPDecoderParams, tasks=("segmentation",),
                       description="SegFormer all-MLP decoder: project every feature, upsample to the first, "
                                   "concat, fuse (1x1 conv+BN+ReLU), classify; logits at the first feature's stride.")]


@hookimpl
def nptrain_presets():
    return presets()


@hookimpl
def nptrain_converters():
    return [ConverterRecord(name="hf", presets=tuple(f"mit_{v}" for v in VARIANTS) + ("segformer_b0",),
                            factory="np_plugin_segformer.convert:from_hf",
                            description="Hugging Face transformers-4 Segformer files: nvidia/mit-b0..b5 "
                                        "(SegformerForImageClassification), nvidia/segformer-b0-finetuned-* "
                                        "(SegformerForSemanticSegmentation)")]
