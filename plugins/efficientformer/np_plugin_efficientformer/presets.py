"""efficientformer_l1 / l3 / l7 presets (plain data, no torch import).

Layouts are snap-research's ``EfficientFormer_depth`` / ``EfficientFormer_width`` with ``vit_num`` 1 / 4 / 8.
"""
from __future__ import annotations

from typing import Any

from nptrain.records import PresetRecord

# Parameters of snap's efficientformer_l{1,3,7}() (1000 classes, with dist_head), which our presets equal:
# l1 is the fixture's source.json "params"; l3 / l7 are counted from the original layout in
# tests/test_model.py (the paper rounds them to 31.3M / 82.1M).
PARAMS = {"efficientformer_l1": 12_289_928, "efficientformer_l3": 31_406_000, "efficientformer_l7": 82_229_328}

LAYOUTS: dict[str, tuple[tuple[int, ...], tuple[int, ...], int]] = {
    # name: (blocks per stage, channels per stage, vit_num)
    "efficientformer_l1": ((3, 2, 6, 4), (48, 96, 224, 448), 1),
    "efficientformer_l3": ((4, 4, 12, 6), (64, 128, 320, 512), 4),
    "efficientformer_l7": ((6, 6, 18, 8), (96, 192, 384, 768), 8),
}


def backbone_params(name: str) -> dict[str, Any]:
    """The preset's backbone ``params`` spelled out, so it documents itself and survives default changes."""
    return {"num_attention_heads": 8, "attention_channels": 256, "attention_dropout_prob": 0.0,
            "attention_value_expansion_ratio": 4, "ffn_intermediate_ratio": 4.0, "ffn_dropout_prob": 0.0,
            "ffn_act_type": "gelu", "vit_num": LAYOUTS[name][2], "pool_size": 3, "layer_scale_init_value": 1e-5,
            "downsamples": [True, True, True, True], "attention_bias_resolution": 7}


def architecture(name: str) -> dict[str, Any]:
    blocks, channels, _ = LAYOUTS[name]
    return {"backbone": {"name": "efficientformer", "params": backbone_params(name),
                         "stage_params": [{"num_blocks": n, "channels": c} for n, c in zip(blocks, channels)]},
            "head": {"name": "efficientformer_head", "params": {"distillation": True}}}


def presets() -> list[PresetRecord]:
    out = []
    for name, (blocks, channels, vit_num) in LAYOUTS.items():
        millions = PARAMS[name] / 1e6
        out.append(PresetRecord(
            name=name, task="classification", architecture=architecture(name), default_input_size=224,
            description=(f"EfficientFormer-{name[-2:].upper()} (snap-research v1): depths {list(blocks)}, widths "
                         f"{list(channels)}, {vit_num} attention block(s), distillation head; "
                         f"{millions:.1f}M params with 1000 classes"),
            # NHWC: 1.26x faster efficientformer_l1 train steps on CPU (docs/benchmarks.md#memory-format)
            memory_format="channels_last"))
    # segmentation: all four stages (strides 4-32) into SegFormer's all-MLP decoder, as for resnet50
    seg = architecture("efficientformer_l1")
    seg["head"] = {"name": "all_mlp_decoder", "params": {"intermediate_channels": 256}}
    out.append(PresetRecord(
        name="efficientformer_l1", task="segmentation", architecture=seg, default_input_size=512,
        description="EfficientFormer-L1 + SegFormer all-MLP decoder (needs np-plugin-segformer)"))
    # detection: the stride 8/16/32 maps (stages 2-4; fpn skips the stride-4 one) into the core's YOLOX head
    det = architecture("efficientformer_l1")
    det["neck"] = {"name": "fpn", "params": {"out_channels": 128, "num_outs": 3, "start_level": 1}}
    det["head"] = {"name": "anchor_free_decoupled_head"}
    out.append(PresetRecord(
        name="efficientformer_l1", task="detection", architecture=det, default_input_size=640,
        losses=({"criterion": "yolox_loss"},),
        description="EfficientFormer-L1 (stages 2-4) + fpn + anchor-free decoupled (YOLOX) head"))
    return out
