"""pidnet_s / pidnet_m / pidnet_l segmentation presets: plain data, no torch import."""
from __future__ import annotations

from nptrain.records import PresetRecord

# get_seg_model's three configurations (XuJiacong/PIDNet models/pidnet.py)
VARIANTS: dict[str, dict[str, int]] = {
    "s": {"m": 2, "n": 3, "channels": 32, "ppm_channels": 96, "head_channels": 128},
    "m": {"m": 2, "n": 3, "channels": 64, "ppm_channels": 96, "head_channels": 128},
    "l": {"m": 3, "n": 4, "channels": 64, "ppm_channels": 112, "head_channels": 256},
}

# Parameter counts of the original PIDNet(augment=True) with 19 Cityscapes classes, which the
# presets reproduce exactly: pidnet_s equals the parity fixture's source.json "params"; m and l were
# counted on the original class (they match the paper's 7.6M / 28.5M / 36.9M for augment=False,
# which the README lists too).
PARAMS_19 = {"pidnet_s": 7_720_935, "pidnet_m": 28_763_111, "pidnet_l": 37_314_311}
PARAMS_19_NO_AUX = {"pidnet_s": 7_625_715, "pidnet_m": 28_538_515, "pidnet_l": 36_939_571}


def presets() -> list[PresetRecord]:
    return [PresetRecord(
        name=f"pidnet_{v}", task="segmentation", default_input_size=1024,
        architecture={"full": {"name": "pidnet", "params": dict(args, augment=True)}},
        losses=({"criterion": "pidnet_loss"},),
        memory_format="contiguous",  # channels_last is 0.89x here (docs/benchmarks.md#memory-format)
        description=f"PIDNet-{v.upper()} (XuJiacong), logits at stride 8 "
                    f"({PARAMS_19[f'pidnet_{v}'] / 1e6:.2f}M params with 19 classes and aux heads)")
        for v, args in VARIANTS.items()]
