"""torchvision MobileNetV3 weights, converted, reproduce torchvision's outputs (fixtures made from torchvision
0.28 in a side venv: tests/fixtures/mobilenet_v3_{small,large}, the format of ../shared/parity), every file form
agrees, bad files fail loudly, and the ImageNet classifier starts the detection preset's backbone."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import nptrain
from nptrain.errors import ConversionError
from nptrain.testing.converters import assert_file_forms_agree, assert_head_drops
from nptrain.testing.parity import assert_parity, load_input, make_state_dict, source_info

from np_plugin_mobilenetv3.convert import from_torchvision

FIXTURES = Path(__file__).parent / "fixtures"
SIZES = ("mobilenet_v3_small", "mobilenet_v3_large")


@pytest.fixture(scope="module", params=SIZES)
def size_source(request) -> tuple[str, dict]:
    return request.param, make_state_dict(FIXTURES / request.param, salt=int(source_info(FIXTURES / request.param)["salt"]))


def test_parity_with_torchvision(size_source):
    size, source = size_source
    torch.set_flush_denormal(True)
    model = nptrain.create_model(size, num_classes=1000).eval()
    assert sum(p.numel() for p in model.parameters()) == source_info(FIXTURES / size)["params"]
    model.load_state_dict(from_torchvision(source, preset=size), strict=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            x = load_input(FIXTURES / size)
            features = model.backbone(x)
            logits = model.head(features)
    finally:
        torch.set_num_threads(threads)
    report = assert_parity({"logits": logits, "features": features[-1]}, FIXTURES / size)
    assert max(report.values()) < 0.5  # well inside the tolerance, not at its edge


def test_file_forms_agree(size_source, tmp_path):
    """A DataParallel-wrapped .pth without BatchNorm counters, `nptrain convert` and `checkpoint: torchvision:FILE`."""
    size, source = size_source
    assert_file_forms_agree(source, source_name="torchvision", preset=size, tmp_path=tmp_path)


def test_drop_head(size_source):
    size, source = size_source
    assert_head_drops(source, source_name="torchvision", preset=size, source_head_prefixes=("classifier.",))


def test_unknown_missing_and_other_size_fail_loudly(size_source):
    size, source = size_source
    with pytest.raises(ConversionError, match="unmapped source key.*extra.weight"):
        from_torchvision({**source, "extra.weight": torch.zeros(1)}, preset=size)
    partial = {k: v for k, v in source.items() if not k.startswith("features.3.block.1.0.")}
    with pytest.raises(ConversionError, match="unfilled"):
        from_torchvision(partial, preset=size)
    other = SIZES[1 - SIZES.index(size)]
    with pytest.raises(ConversionError):
        from_torchvision(source, preset=other)


def test_imagenet_weights_start_the_detection_preset(tmp_path):
    """``checkpoint: torchvision:FILE`` on the detection mobilenet_v3_small loads the whole backbone and says the
    fpn and RetinaNet head start fresh."""
    from safetensors.torch import save_file

    from nptrain.checkpoints import load_weights

    source = make_state_dict(FIXTURES / "mobilenet_v3_small")
    src = tmp_path / "mnv3s.safetensors"
    save_file({k: v.contiguous() for k, v in source.items()}, str(src))
    torch.manual_seed(0)
    model = nptrain.create_model("mobilenet_v3_small", task="detection", num_classes=3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = load_weights(model, f"torchvision:{src}", preset="mobilenet_v3_small")
    after = model.state_dict()
    converted = from_torchvision(source, preset="mobilenet_v3_small")
    assert all(torch.equal(after[k], converted[k]) for k in after if k.startswith("backbone."))
    assert all(torch.equal(after[k], before[k]) for k in after if not k.startswith("backbone."))
    assert report.fresh_parts == ["head", "neck"]
