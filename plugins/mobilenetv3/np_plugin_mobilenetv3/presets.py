"""mobilenet_v3_small / mobilenet_v3_large presets: NetsPresso Trainer 1.4.1's own stage lists and heads
(its config/model/mobilenetv3/*-classification.yaml), which are torchvision's MobileNetV3 widths."""
from __future__ import annotations

from nptrain.records import PresetRecord

R, H = "relu", "hard_swish"


def stage_lists(rows: list[tuple]) -> dict:
    """rows of (in, kernel, expanded, out, use_se, act, stride) -> NetsPresso's per-stage lists."""
    names = ("in_channels", "kernel_sizes", "expanded_channels", "out_channels", "use_se", "act_type", "stride")
    return {name: [row[i] for row in rows] for i, name in enumerate(names)}


SMALL = [
    [(16, 3, 16, 16, True, R, 2)],
    [(16, 3, 72, 24, False, R, 2), (24, 3, 88, 24, False, R, 1)],
    [(24, 5, 96, 40, True, H, 2), (40, 5, 240, 40, True, H, 1), (40, 5, 240, 40, True, H, 1),
     (40, 5, 120, 48, True, H, 1), (48, 5, 144, 48, True, H, 1)],
    [(48, 5, 288, 96, True, H, 2), (96, 5, 576, 96, True, H, 1), (96, 5, 576, 96, True, H, 1)],
]
LARGE = [
    [(16, 3, 16, 16, False, R, 1), (16, 3, 64, 24, False, R, 2), (24, 3, 72, 24, False, R, 1)],
    [(24, 5, 72, 40, True, R, 2), (40, 5, 120, 40, True, R, 1), (40, 5, 120, 40, True, R, 1)],
    [(40, 3, 240, 80, False, H, 2), (80, 3, 200, 80, False, H, 1), (80, 3, 184, 80, False, H, 1),
     (80, 3, 184, 80, False, H, 1), (80, 3, 480, 112, True, H, 1), (112, 3, 672, 112, True, H, 1)],
    [(112, 5, 672, 160, True, H, 2), (160, 5, 960, 160, True, H, 1), (160, 5, 960, 160, True, H, 1)],
]
# the classifier's hidden width (torchvision's last_channel)
HIDDEN = {"small": 1024, "large": 1280}


def backbone(size: str) -> dict:
    return {"name": "mobilenetv3", "stage_params": [stage_lists(s) for s in (SMALL if size == "small" else LARGE)]}


def presets() -> list[PresetRecord]:
    return [PresetRecord(name=f"mobilenet_v3_{size}", task="classification", default_input_size=224,
                         architecture={"backbone": backbone(size),
                                       "head": {"name": "fc", "params": {"num_layers": 2,
                                                                         "intermediate_channels": HIDDEN[size],
                                                                         "act_type": "hard_swish",
                                                                         "dropout_prob": 0.2}}},
                         description=f"MobileNetV3-{size.capitalize()} (NetsPresso Trainer's stage lists, "
                                     f"{'2.5' if size == 'small' else '5.5'}M params with 1000 classes)",
                         # NHWC: 1.30x faster mobilenet_v3_small train steps on CPU (docs/benchmarks.md#mobile-families)
                         memory_format="channels_last")
            for size in ("small", "large")] + [detection()]


def detection() -> PresetRecord:
    """NetsPresso Trainer's mobilenetv3-small-detection: the backbone's four stages, an ``fpn`` as wide as the
    last (576), the RetinaNet head with one anchor size per level. Its configs share one BatchNorm over the
    head's levels; this preset uses the head's default GroupNorm, which evaluates as it trains."""
    return PresetRecord(
        name="mobilenet_v3_small", task="detection", default_input_size=320,
        architecture={"backbone": backbone("small"),
                      "neck": {"name": "fpn", "params": {"out_channels": None, "num_outs": 4}},
                      "head": {"name": "anchor_decoupled_head",
                               "params": {"anchor_sizes": [[32], [64], [128], [256]], "num_layers": 1}}},
        losses=({"criterion": "retinanet_loss", "anchor_sizes": [[32], [64], [128], [256]]},),
        description="MobileNetV3-Small + fpn + RetinaNet head (NetsPresso Trainer's detection layout; "
                    "20.5M params at 80 classes)")
