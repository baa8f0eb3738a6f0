"""mobilevit_s / mobilevit_xs / mobilevit_xxs presets (plain data, no torch import)."""
from __future__ import annotations

import copy

from nptrain.records import PresetRecord

from np_plugin_mobilevit.params import STAGES

# ml-cvnets MobileViT with the 1000-class classifier, counted exactly from its layout. mobilevit_s is the
# fixture's source.json "params"; the paper and model zoo round them to 5.6M / 2.3M / 1.3M.
PARAMS = {"mobilevit_s": 5_578_632, "mobilevit_xs": 2_317_848, "mobilevit_xxs": 1_272_024}

# spelled out (equal to the MobileViTParams defaults) so the presets document themselves and survive default changes
BACKBONE_PARAMS = {"patch_size": 2, "num_attention_heads": 4, "attention_dropout_prob": 0.0, "ffn_dropout_prob": 0.0,
                   "dropout_prob": 0.1, "output_expansion_ratio": 4, "use_fusion_layer": True}

_DESCRIPTIONS = {
    "mobilevit_s": "MobileViT-S (apple/ml-cvnets mode small), 5.6M params with 1000 classes",
    "mobilevit_xs": "MobileViT-XS (apple/ml-cvnets mode x_small), 2.3M params with 1000 classes",
    "mobilevit_xxs": "MobileViT-XXS (apple/ml-cvnets mode xx_small), 1.3M params with 1000 classes",
}


def presets() -> list[PresetRecord]:
    return [PresetRecord(name=name, task="classification",
                         architecture={"backbone": {"name": "mobilevit", "params": dict(BACKBONE_PARAMS),
                                                    "stage_params": copy.deepcopy(STAGES[name])},
                                       "head": {"name": "fc"}},
                         description=description, default_input_size=256,
                         # NHWC: 1.17x faster mobilevit_s train steps on CPU (docs/benchmarks.md#memory-format)
                         memory_format="channels_last")
            for name, description in _DESCRIPTIONS.items()]
