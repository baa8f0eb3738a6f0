"""timm MobileNetV4 weights, converted, reproduce timm's outputs (fixtures made from timm 1.0.31 in a side venv:
tests/fixtures/mobilenetv4_*, the format of ../shared/parity), every file form agrees, bad files fail loudly.

The four fixtures cover each way the layouts differ: ``conv_small`` (plain conv and inverted-residual blocks; timm
has no layer scale where NetsPresso's preset has one: filled with ones), ``conv_medium`` (the fused block),
``hybrid_medium`` (attention blocks; both scale) and ``hybrid_large`` (timm scales, the preset does not: folded;
and timm's head activation is GELU where NetsPresso's config, so the preset, has ReLU)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import nptrain
from nptrain.errors import ConversionError
from nptrain.testing.converters import assert_file_forms_agree, assert_head_drops
from nptrain.testing.parity import (assert_parity, load_expected, load_input, make_state_dict, source_info,
                                    violation)

from np_plugin_mobilenetv4.convert import from_timm

FIXTURES = Path(__file__).parent / "fixtures"
SIZES = ("mobilenetv4_conv_small", "mobilenetv4_conv_medium", "mobilenetv4_hybrid_medium", "mobilenetv4_hybrid_large")
# timm's hybrid_large head runs GELU; NetsPresso's config for it (the preset) ReLU
HEAD_ACT = {"mobilenetv4_hybrid_large": "gelu"}


def _source(size: str) -> dict:
    return make_state_dict(FIXTURES / size, salt=int(source_info(FIXTURES / size)["salt"]))


def _gammas(state) -> int:
    return sum(v.numel() for k, v in state.items() if k.endswith("layer_scale.gamma"))


def _outputs(model, size: str) -> dict:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            features = model.backbone(load_input(FIXTURES / size))
            return {"logits": model.head(features), "features": features[-1]}
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("size", SIZES)
def test_parity_with_timm(size):
    torch.set_flush_denormal(True)
    source = _source(size)
    spec = {"name": size, "task": "classification"}
    if size in HEAD_ACT:
        spec["architecture"] = {"head": {"params": {"act_type": HEAD_ACT[size]}}}
    model = nptrain.create_model(spec, num_classes=1000).eval()
    converted = from_timm(source, preset=size)
    # equal but for layer scale: ones added where timm has none, timm's folded where the preset has none
    params = sum(p.numel() for p in model.parameters())
    assert params == source_info(FIXTURES / size)["params"] + _gammas(converted) - _gammas(source)
    model.load_state_dict(converted, strict=True)
    report = assert_parity(_outputs(model, size), FIXTURES / size)
    assert max(report.values()) < 0.5  # well inside the tolerance, not at its edge


def test_hybrid_large_preset_keeps_netspresso_head():
    """The preset as NetsPresso's config has it takes the same weights: its features are timm's, its logits are not
    (ReLU for GELU in the head), which is why the README says to fine-tune it or set ``act_type: gelu``."""
    size = "mobilenetv4_hybrid_large"
    model = nptrain.create_model(size, num_classes=1000).eval()
    model.load_state_dict(from_timm(_source(size), preset=size), strict=True)
    got = _outputs(model, size)
    expected = load_expected(FIXTURES / size)
    tolerance = source_info(FIXTURES / size)["tolerance"]
    assert violation(got["features"], expected["features"], tolerance) < 0.5
    assert violation(got["logits"], expected["logits"], tolerance) > 100


def test_file_forms_agree(tmp_path):
    """A DataParallel-wrapped .pth without BatchNorm counters, `nptrain convert` and `checkpoint: timm:FILE`."""
    size = "mobilenetv4_conv_small"
    assert_file_forms_agree(_source(size), source_name="timm", preset=size, tmp_path=tmp_path)


@pytest.mark.parametrize("size", ["mobilenetv4_conv_small", "mobilenetv4_hybrid_medium"])
def test_drop_head(size):
    assert_head_drops(_source(size), source_name="timm", preset=size,
                      source_head_prefixes=("conv_head.", "norm_head.", "classifier."))


def test_unknown_missing_and_other_size_fail_loudly():
    size = "mobilenetv4_conv_small"
    source = _source(size)
    with pytest.raises(ConversionError, match="unmapped source key.*extra.weight"):
        from_timm({**source, "extra.weight": torch.zeros(1)}, preset=size)
    partial = {k: v for k, v in source.items() if not k.startswith("blocks.2.1.dw_mid.")}
    with pytest.raises(ConversionError, match="unfilled"):
        from_timm(partial, preset=size)
    with pytest.raises(ConversionError, match="blocks"):
        from_timm(source, preset="mobilenetv4_conv_medium")
