"""mixnet_s / mixnet_m / mixnet_l presets: NetsPresso Trainer 1.4.1's own stage lists
(its config/model/mixnet/*-classification.yaml); l is m at width 1.3."""
from __future__ import annotations

from nptrain.records import PresetRecord

R, S = "relu", "swish"
N = None


def _stage(e, c, n, k, eg, pg, s, a, se) -> dict:
    return {"expansion_ratio": e, "out_channels": c, "num_blocks": n, "kernel_sizes": k, "num_exp_groups": eg,
            "num_poi_groups": pg, "stride": s, "act_type": a, "se_reduction_ratio": se}


SMALL = [
    _stage([1, 6, 3], [16, 24, 24], [1, 1, 1], [[3], [3], [3]], [1, 2, 2], [1, 2, 2], [1, 2, 1], [R] * 3, [N] * 3),
    _stage([6, 6], [40, 40], [1, 3], [[3, 5, 7], [3, 5]], [1, 2], [1, 2], [2, 1], [S] * 2, [2, 2]),
    _stage([6, 6, 6, 3], [80, 80, 120, 120], [1, 2, 1, 2], [[3, 5, 7], [3, 5], [3, 5, 7], [3, 5, 7, 9]],
           [1, 1, 2, 2], [2, 2, 2, 2], [2, 1, 1, 1], [S] * 4, [4, 4, 2, 2]),
    _stage([6, 6], [200, 200], [1, 2], [[3, 5, 7, 9, 11], [3, 5, 7, 9]], [1, 1], [1, 2], [2, 1], [S] * 2, [2, 2]),
]
MEDIUM = [
    _stage([1, 6, 3], [24, 32, 32], [1, 1, 1], [[3], [3, 5, 7], [3]], [1, 2, 2], [1, 2, 2], [1, 2, 1], [R] * 3,
           [N] * 3),
    _stage([6, 6], [40, 40], [1, 3], [[3, 5, 7, 9], [3, 5]], [1, 2], [1, 2], [2, 1], [S] * 2, [2, 2]),
    _stage([6, 6, 6, 3], [80, 80, 120, 120], [1, 3, 1, 3], [[3, 5, 7], [3, 5, 7, 9], [3], [3, 5, 7, 9]],
           [1, 2, 1, 2], [1, 2, 1, 2], [2, 1, 1, 1], [S] * 4, [4, 4, 2, 2]),
    _stage([6, 6], [200, 200], [1, 3], [[3, 5, 7, 9], [3, 5, 7, 9]], [1, 1], [1, 2], [2, 1], [S] * 2, [2, 2]),
]
SIZES = {"s": (16, 1.0, SMALL), "m": (24, 1.0, MEDIUM), "l": (24, 1.3, MEDIUM)}


def backbone(size: str) -> dict:
    stem, width, stages = SIZES[size]
    return {"name": "mixnet", "params": {"stem_channels": stem, "wid_mul": width},
            "stage_params": [dict(s) for s in stages]}


def presets() -> list[PresetRecord]:
    return [PresetRecord(name=f"mixnet_{size}", task="classification", default_input_size=224,
                         architecture={"backbone": backbone(size), "head": {"name": "fc"}},
                         description=f"MixNet-{size.upper()} (NetsPresso Trainer's stage lists, width "
                                     f"{SIZES[size][1]})",
                         # NHWC: 1.49x faster mixnet_s train steps on CPU (docs/benchmarks.md#mobile-families)
                         memory_format="channels_last")
            for size in SIZES]
