"""timm MixNet weights, converted, reproduce timm's outputs (fixtures made from timm 1.0.31 in a side venv:
tests/fixtures/mixnet_{s,m,l}, the format of ../shared/parity), every file form agrees, bad files fail loudly."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import nptrain
from nptrain.errors import ConversionError
from nptrain.testing.converters import assert_file_forms_agree, assert_head_drops
from nptrain.testing.parity import assert_parity, load_input, make_state_dict, source_info

from np_plugin_mixnet.convert import TIMM_EPS, from_timm
from np_plugin_mixnet.model import BLOCK_EPS

FIXTURES = Path(__file__).parent / "fixtures"
SIZES = ("mixnet_s", "mixnet_m", "mixnet_l")


def _source(size: str) -> dict:
    return make_state_dict(FIXTURES / size, salt=int(source_info(FIXTURES / size)["salt"]))


@pytest.mark.parametrize("size", SIZES)
def test_parity_with_timm(size):
    torch.set_flush_denormal(True)
    source = _source(size)
    model = nptrain.create_model(size, num_classes=1000).eval()
    assert sum(p.numel() for p in model.parameters()) == source_info(FIXTURES / size)["params"]
    model.load_state_dict(from_timm(source, preset=size), strict=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            features = model.backbone(load_input(FIXTURES / size))
            logits = model.head(features)
    finally:
        torch.set_num_threads(threads)
    report = assert_parity({"logits": logits, "features": features[-1]}, FIXTURES / size)
    assert max(report.values()) < 0.5  # well inside the tolerance, not at its edge


def test_block_norms_take_timm_eps_into_the_variance():
    """The only value the converter changes: each block BatchNorm's running variance, by timm's eps minus ours (the
    stem's and the last conv's BatchNorms use 1e-5 on both sides and pass unchanged)."""
    source = _source("mixnet_s")
    out = from_timm(source, preset="mixnet_s")
    assert torch.equal(out["backbone.stages.1.0.depth_wise.norm.running_var"],
                       source["blocks.2.0.bn2.running_var"] + (TIMM_EPS - BLOCK_EPS))
    assert torch.equal(out["backbone.mod1.block.norm.running_var"], source["bn1.running_var"])
    assert torch.equal(out["backbone.stages.3.3.block.norm.running_var"], source["bn2.running_var"])


def test_file_forms_agree(tmp_path):
    """A DataParallel-wrapped .pth without BatchNorm counters, `nptrain convert` and `checkpoint: timm:FILE`."""
    assert_file_forms_agree(_source("mixnet_s"), source_name="timm", preset="mixnet_s", tmp_path=tmp_path)


def test_drop_head():
    assert_head_drops(_source("mixnet_m"), source_name="timm", preset="mixnet_m", source_head_prefixes=("classifier.",))


def test_unknown_missing_and_other_size_fail_loudly():
    source = _source("mixnet_s")
    with pytest.raises(ConversionError, match="unmapped source key.*extra.weight"):
        from_timm({**source, "extra.weight": torch.zeros(1)}, preset="mixnet_s")
    partial = {k: v for k, v in source.items() if not k.startswith("blocks.2.0.se.")}
    with pytest.raises(ConversionError, match="unfilled"):
        from_timm(partial, preset="mixnet_s")
    with pytest.raises(ConversionError, match="blocks"):
        from_timm(source, preset="mixnet_m")
    # m and l have the same blocks and differ in width only: the shapes say so
    with pytest.raises(ConversionError, match="shape mismatch"):
        from_timm(_source("mixnet_m"), preset="mixnet_l")
