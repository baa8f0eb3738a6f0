"""Which first-party presets the per-preset matrices (int8 quantize, prune + retrain + export, one training epoch)
run by default.

The larger variants of a family (the same block code, more blocks or wider) take the longest and find nothing their
family's smallest preset would not: the default suite runs the smallest preset of every family and task, and
``NPTRAIN_ALL_PRESETS=1`` runs all of them (each was measured passing when it joined the list)."""
from __future__ import annotations

import os

import pytest

LARGER_VARIANTS = {"efficientformer_l3", "efficientformer_l7", "mit_b1", "mit_b2", "mit_b3", "mit_b4", "mit_b5",
                   "mobilevit_s", "mobilevit_xs", "pidnet_m", "pidnet_l", "resnet34", "resnet101",
                   "mobilenet_v3_large", "mixnet_m", "mixnet_l",
                   # mobilenetv4: conv_small runs the conv blocks, hybrid_medium the attention ones
                   "mobilenetv4_conv_medium", "mobilenetv4_conv_large", "mobilenetv4_hybrid_large",
                   # gelan / yolov9: tiny runs every block kind but adown (c's; measured: c passes too)
                   "gelan_s", "gelan_m", "gelan_c", "yolov9_s", "yolov9_m", "yolov9_c"}
ALL_PRESETS = os.environ.get("NPTRAIN_ALL_PRESETS") == "1"


def skip_larger_variant(preset: str) -> None:
    """Skip ``preset`` unless ``NPTRAIN_ALL_PRESETS=1`` when a smaller one of its family runs the same code."""
    if preset in LARGER_VARIANTS and not ALL_PRESETS:
        pytest.skip("larger variant of a family tested by its smallest preset (NPTRAIN_ALL_PRESETS=1 runs it)")
