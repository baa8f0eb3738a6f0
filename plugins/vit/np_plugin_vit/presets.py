"""vit_tiny preset (plain data, no torch import)."""
from __future__ import annotations

from nptrain.records import PresetRecord

# ml-cvnets VisionTransformer(mode="tiny") with the 1000-class classifier: 5,618,344 parameters
# (the fixture's source.json "params"; ml-cvnets' model-zoo table rounds it to "5.7 M")
PARAMS = {"vit_tiny": 5_618_344}

# spelled out (equal to the ViTParams defaults) so the preset documents itself and survives default changes
VIT_TINY = {"patch_size": 16, "attention_channels": 192, "num_blocks": 12, "num_attention_heads": 3,
            "ffn_intermediate_channels": 768, "attention_dropout_prob": 0.0, "ffn_dropout_prob": 0.0,
            "dropout_prob": 0.0, "pos_embed_dropout_prob": 0.1, "use_cls_token": True, "image_size": 224}


def presets() -> list[PresetRecord]:
    return [PresetRecord(name="vit_tiny", task="classification",
                         architecture={"backbone": {"name": "vit", "params": dict(VIT_TINY)}, "head": {"name": "fc"}},
                         description="ViT-Tiny, apple/ml-cvnets layout (conv stem, 12 blocks of width 192, "
                                     "5.6M params with 1000 classes)",
                         default_input_size=224)]
