"""The five MobileNetV4 presets: NetsPresso Trainer 1.4.1's own configs (``config/model/mobilenetv4/*.yaml``), block
lists and head as they are. Widths and depths are the paper's (Table 10 conv, Table 11 hybrid)."""
from __future__ import annotations

from nptrain.records import PresetRecord

# NetsPresso's stage_params (['conv', out, k, s], ['fi', out, hidden, k, s], ['uir', …], ['mmqa', …])
_CONV_SMALL = [
    [['conv', 32, 3, 2],
     ['conv', 32, 1, 1]],
    [['conv', 96, 3, 2],
     ['conv', 64, 1, 1]],
    [['uir', 96, 192, True, 5, True, 5, 2],
     ['uir', 96, 192, False, None, True, 3, 1],
     ['uir', 96, 192, False, None, True, 3, 1],
     ['uir', 96, 192, False, None, True, 3, 1],
     ['uir', 96, 192, False, None, True, 3, 1],
     ['uir', 96, 384, True, 3, False, None, 1]],
    [['uir', 128, 576, True, 3, True, 3, 2],
     ['uir', 128, 512, True, 5, True, 5, 1],
     ['uir', 128, 512, False, None, True, 5, 1],
     ['uir', 128, 384, False, None, True, 5, 1],
     ['uir', 128, 512, False, None, True, 3, 1],
     ['uir', 128, 512, False, None, True, 3, 1]],
]
_CONV_MEDIUM = [
    [['fi', 48, 128, 3, 2]],
    [['uir', 80, 192, True, 3, True, 5, 2],
     ['uir', 80, 160, True, 3, True, 3, 1]],
    [['uir', 160, 480, True, 3, True, 5, 2],
     ['uir', 160, 640, True, 3, True, 3, 1],
     ['uir', 160, 640, True, 3, True, 3, 1],
     ['uir', 160, 640, True, 3, True, 5, 1],
     ['uir', 160, 640, True, 3, True, 3, 1],
     ['uir', 160, 640, True, 3, False, None, 1],
     ['uir', 160, 320, False, None, False, None, 1],
     ['uir', 160, 640, True, 3, False, None, 1]],
    [['uir', 256, 960, True, 5, True, 5, 2],
     ['uir', 256, 1024, True, 5, True, 5, 1],
     ['uir', 256, 1024, True, 3, True, 5, 1],
     ['uir', 256, 1024, True, 3, True, 5, 1],
     ['uir', 256, 1024, False, None, False, None, 1],
     ['uir', 256, 1024, True, 3, False, None, 1],
     ['uir', 256, 512, True, 3, True, 5, 1],
     ['uir', 256, 1024, True, 5, True, 5, 1],
     ['uir', 256, 1024, False, None, False, None, 1],
     ['uir', 256, 1024, False, None, False, None, 1],
     ['uir', 256, 512, True, 5, False, None, 1]],
]
_CONV_LARGE = [
    [['fi', 48, 96, 3, 2]],
    [['uir', 96, 192, True, 3, True, 5, 2],
     ['uir', 96, 384, True, 3, True, 3, 1]],
    [['uir', 192, 384, True, 3, True, 5, 2],
     ['uir', 192, 768, True, 3, True, 3, 1],
     ['uir', 192, 768, True, 3, True, 3, 1],
     ['uir', 192, 768, True, 3, True, 3, 1],
     ['uir', 192, 768, True, 3, True, 5, 1],
     ['uir', 192, 768, True, 5, True, 3, 1],
     ['uir', 192, 768, True, 5, True, 3, 1],
     ['uir', 192, 768, True, 5, True, 3, 1],
     ['uir', 192, 768, True, 5, True, 3, 1],
     ['uir', 192, 768, True, 5, True, 3, 1],
     ['uir', 192, 768, True, 3, False, None, 1]],
    [['uir', 512, 768, True, 5, True, 5, 2],
     ['uir', 512, 2048, True, 5, True, 5, 1],
     ['uir', 512, 2048, True, 5, True, 5, 1],
     ['uir', 512, 2048, True, 5, True, 5, 1],
     ['uir', 512, 2048, True, 5, False, None, 1],
     ['uir', 512, 2048, True, 5, True, 3, 1],
     ['uir', 512, 2048, True, 5, False, None, 1],
     ['uir', 512, 2048, True, 5, False, None, 1],
     ['uir', 512, 2048, True, 5, True, 3, 1],
     ['uir', 512, 2048, True, 5, True, 5, 1],
     ['uir', 512, 2048, True, 5, False, None, 1],
     ['uir', 512, 2048, True, 5, False, None, 1],
     ['uir', 512, 2048, True, 5, False, None, 1]],
]
_HYBRID_MEDIUM = [
    [['fi', 48, 128, 3, 2]],
    [['uir', 80, 192, True, 3, True, 5, 2],
     ['uir', 80, 160, True, 3, True, 3, 1]],
    [['uir', 160, 480, True, 3, True, 5, 2],
     ['uir', 160, 320, False, None, False, None, 1],
     ['uir', 160, 640, True, 3, True, 3, 1],
     ['uir', 160, 640, True, 3, True, 5, 1],
     ['mmqa', 160, 256, 4, None, True, 3, 2, 1],
     ['uir', 160, 640, True, 3, True, 3, 1],
     ['mmqa', 160, 256, 4, None, True, 3, 2, 1],
     ['uir', 160, 640, True, 3, False, None, 1],
     ['mmqa', 160, 256, 4, None, True, 3, 2, 1],
     ['uir', 160, 640, True, 3, True, 3, 1],
     ['mmqa', 160, 256, 4, None, True, 3, 2, 1],
     ['uir', 160, 640, True, 3, False, None, 1]],
    [['uir', 256, 960, True, 5, True, 5, 2],
     ['uir', 256, 1024, True, 5, True, 5, 1],
     ['uir', 256, 1024, True, 3, True, 5, 1],
     ['uir', 256, 1024, True, 3, True, 5, 1],
     ['uir', 256, 512, False, None, False, None, 1],
     ['uir', 256, 512, True, 3, True, 5, 1],
     ['uir', 256, 512, False, None, False, None, 1],
     ['uir', 256, 1024, False, None, False, None, 1],
     ['mmqa', 256, 256, 4, None, False, None, None, 1],
     ['uir', 256, 1024, True, 3, False, None, 1],
     ['mmqa', 256, 256, 4, None, False, None, None, 1],
     ['uir', 256, 1024, True, 5, True, 5, 1],
     ['mmqa', 256, 256, 4, None, False, None, None, 1],
     ['uir', 256, 1024, True, 5, False, None, 1],
     ['mmqa', 256, 256, 4, None, False, None, None, 1],
     ['uir', 256, 1024, True, 5, False, None, 1]],
]
_HYBRID_LARGE = [
    [['fi', 48, 96, 3, 2]],
    [['uir', 96, 192, True, 3, True, 5, 2],
     ['uir', 96, 384, True, 3, True, 3, 1]],
    [['uir', 192, 384, True, 3, True, 5, 2],
     ['uir', 192, 768, True, 3, True, 3, 1],
     ['uir', 192, 768, True, 3, True, 3, 1],
     ['uir', 192, 768, True, 3, True, 3, 1],
     ['uir', 192, 768, True, 3, True, 5, 1],
     ['uir', 192, 768, True, 5, True, 3, 1],
     ['uir', 192, 768, True, 5, True, 3, 1],
     ['mmqa', 192, 384, 8, None, True, 3, 2, 1],
     ['uir', 192, 768, True, 5, True, 3, 1],
     ['mmqa', 192, 384, 8, None, True, 3, 2, 1],
     ['uir', 192, 768, True, 5, True, 3, 1],
     ['mmqa', 192, 384, 8, None, True, 3, 2, 1],
     ['uir', 192, 768, True, 5, True, 3, 1],
     ['mmqa', 192, 384, 8, None, True, 3, 2, 1],
     ['uir', 192, 768, True, 3, False, None, 1]],
    [['uir', 512, 768, True, 5, True, 5, 2],
     ['uir', 512, 2048, True, 5, True, 5, 1],
     ['uir', 512, 2048, True, 5, True, 5, 1],
     ['uir', 512, 2048, True, 5, True, 5, 1],
     ['uir', 512, 2048, True, 5, False, None, 1],
     ['uir', 512, 2048, True, 5, True, 3, 1],
     ['uir', 512, 2048, True, 5, False, None, 1],
     ['uir', 512, 2048, True, 5, False, None, 1],
     ['uir', 512, 2048, True, 5, True, 3, 1],
     ['uir', 512, 2048, True, 5, True, 5, 1],
     ['mmqa', 512, 512, 8, None, False, None, None, 1],
     ['uir', 512, 2048, True, 5, False, None, 1],
     ['mmqa', 512, 512, 8, None, False, None, None, 1],
     ['uir', 512, 2048, True, 5, False, None, 1],
     ['mmqa', 512, 512, 8, None, False, None, None, 1],
     ['uir', 512, 2048, True, 5, False, None, 1],
     ['mmqa', 512, 512, 8, None, False, None, None, 1],
     ['uir', 512, 2048, True, 5, False, None, 1]],
]


TABLES = {"conv_small": _CONV_SMALL, "conv_medium": _CONV_MEDIUM, "conv_large": _CONV_LARGE,
          "hybrid_medium": _HYBRID_MEDIUM, "hybrid_large": _HYBRID_LARGE}
# (stem width, layer scale, activation, parameters with 1000 classes: timm's mobilenetv4_* counts)
SETTINGS = {"conv_small": (32, 0.1, "relu"), "conv_medium": (32, 0.1, "relu"), "conv_large": (24, None, "relu"),
            "hybrid_medium": (32, 0.1, "relu"), "hybrid_large": (24, None, "gelu")}


def architecture(size: str) -> dict:
    stem, scale, act = SETTINGS[size]
    params = {"stem_out_channel": stem, "final_conv_out_channel": 960, "act_type": act, "layer_scale": scale}
    return {"backbone": {"name": "mobilenetv4", "params": params, "stage_params": TABLES[size]},
            "head": {"name": "fc_conv", "params": {"num_layers": 2, "intermediate_channels": 1280,
                                                     "act_type": "relu", "norm_type": "batch_norm"}}}


def presets() -> list[PresetRecord]:
    return [PresetRecord(name=f"mobilenetv4_{size}", task="classification", default_input_size=224,
                         architecture=architecture(size),
                         description=f"MobileNetV4-{size.replace('_', '-').title()} (NetsPresso Trainer's block "
                                     f"lists; {'attention blocks in the last two stages' if 'hybrid' in size else 'convolutions only'}) + fc_conv",
                         # NHWC: 1.31x (conv_small) and 1.16x (hybrid_medium) faster train steps on CPU
                         # (docs/benchmarks.md#mobile-families)
                         memory_format="channels_last")
            for size in TABLES]
