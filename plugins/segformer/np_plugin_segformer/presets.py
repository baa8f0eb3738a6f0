"""mit_b0..mit_b5 (classification) and segformer_b0 (segmentation) presets: plain data."""
from __future__ import annotations

from nptrain.records import PresetRecord

# published MiT layouts (Xie et al. 2021, Table 6): widths and blocks per stage
VARIANTS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "b0": ((32, 64, 160, 256), (2, 2, 2, 2)),
    "b1": ((64, 128, 320, 512), (2, 2, 2, 2)),
    "b2": ((64, 128, 320, 512), (3, 4, 6, 3)),
    "b3": ((64, 128, 320, 512), (3, 4, 18, 3)),
    "b4": ((64, 128, 320, 512), (3, 8, 27, 3)),
    "b5": ((64, 128, 320, 512), (3, 6, 40, 3)),
}
HEADS = (1, 2, 5, 8)
SR_RATIOS = (8, 4, 2, 1)
PATCH_SIZES = (7, 3, 3, 3)
STRIDES = (4, 2, 2, 2)

# Parameter counts of Hugging Face SegformerForImageClassification with 1000 classes (nvidia/mit-bN);
# the presets reproduce them exactly. mit_b0's equals the parity fixture's source.json "params"; the
# others come from the architecture (tests recompute them in closed form) and, less the 1000-class
# classifier, round to the paper's encoder sizes 13.1M / 24.2M / 44.0M / 60.8M / 81.4M.
PARAMS = {"mit_b0": 3_576_392, "mit_b1": 13_664_424, "mit_b2": 24_709_288,
          "mit_b3": 44_585_128, "mit_b4": 61_355_688, "mit_b5": 81_956_008}
# SegformerForSemanticSegmentation, nvidia/segformer-b0-finetuned-ade-512-512 (150 classes)
SEGFORMER_B0_ADE_PARAMS = 3_752_694


def backbone(variant: str) -> dict:
    widths, depths = VARIANTS[variant]
    return {"name": "mixtransformer",
            "params": {"ffn_intermediate_expansion_ratio": 4.0, "ffn_act_type": "gelu"},
            "stage_params": [{"num_blocks": d, "sequence_reduction_ratio": sr, "attention_chananels": w,
                              "embedding_patch_sizes": p, "embedding_strides": s, "num_attention_heads": h}
                             for w, d, sr, p, s, h in zip(widths, depths, SR_RATIOS, PATCH_SIZES, STRIDES, HEADS)]}


def presets() -> list[PresetRecord]:
    out = [PresetRecord(name=f"mit_{v}", task="classification",
                        architecture={"backbone": backbone(v), "head": {"name": "fc"}},
                        description=f"SegFormer MiT-{v.upper()} encoder + linear classifier "
                                    f"({PARAMS[f'mit_{v}'] / 1e6:.1f}M params with 1000 classes; HF nvidia/mit-{v})")
           for v in VARIANTS]
    out.append(PresetRecord(
        name="segformer_b0", task="segmentation", default_input_size=512,
        architecture={"backbone": backbone("b0"),
                      "head": {"name": "all_mlp_decoder",
                               "params": {"intermediate_channels": 256, "classifier_dropout_prob": 0.1}}},
        description="SegFormer-B0: MiT-B0 + all-MLP decoder (3.75M params with 150 ADE20K classes)"))
    return out
