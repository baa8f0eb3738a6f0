"""torchvision ResNet-50 weights, converted, reproduce the original outputs (fixture: ../shared/parity/resnet50)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import nptrain
from nptrain.errors import ConversionError
from nptrain.testing.converters import assert_file_forms_agree, assert_head_drops
from nptrain.testing.parity import assert_parity, load_input, make_state_dict, source_info

from np_plugin_resnet.convert import from_torchvision
from np_plugin_resnet.presets import PARAMS

FIXTURE = Path(__file__).parent / "fixtures" / "resnet50"


@pytest.fixture(scope="module")
def source() -> dict:
    return make_state_dict(FIXTURE)


@pytest.mark.parametrize("depth", sorted(PARAMS))
def test_param_counts_equal_torchvision(depth):
    model = nptrain.create_model(f"resnet{depth}", num_classes=1000)
    assert sum(p.numel() for p in model.parameters()) == PARAMS[depth]
    assert PARAMS[50] == source_info(FIXTURE)["params"]


def test_parity_with_torchvision(source):
    torch.set_flush_denormal(True)
    model = nptrain.create_model("resnet50", num_classes=1000).eval()
    model.load_state_dict(from_torchvision(source, preset="resnet50"), strict=True)
    x = load_input(FIXTURE)
    with torch.no_grad():
        features = model.backbone(x)
        logits = model.head(features)
    report = assert_parity({"logits": logits, "features": features[-1]}, FIXTURE)
    assert max(report.values()) < 0.5  # well inside the tolerance, not just at its edge


def test_file_forms_agree(source, tmp_path):
    """A DataParallel-wrapped .pth without BatchNorm counters, `nptrain convert` and `checkpoint: torchvision:FILE`."""
    assert_file_forms_agree(source, source_name="torchvision", preset="resnet50", tmp_path=tmp_path)

def test_unknown_and_missing_keys_fail_loudly(source):
    with pytest.raises(ConversionError, match="unmapped source key.*extra.weight"):
        from_torchvision({**source, "extra.weight": torch.zeros(1)}, preset="resnet50")
    partial = {k: v for k, v in source.items() if not k.startswith("layer4.2.conv3")}
    with pytest.raises(ConversionError, match="1 target key.*unfilled.*backbone.layers.3.2.conv3.conv.weight"):
        from_torchvision(partial, preset="resnet50")
    with pytest.raises(ConversionError, match="is the checkpoint a resnet18"):
        from_torchvision(source, preset="resnet18")


def test_drop_head(source):
    assert_head_drops(source, source_name="torchvision", preset="resnet50", source_head_prefixes=("fc.",))


def test_dilation_and_pooling_options_match_feature_info():
    from nptrain.testing.conformance import check_features

    from np_plugin_resnet.model import ResNet
    from np_plugin_resnet.params import ResNetParams, ResNetStage

    stages = [ResNetStage(channels=64, num_blocks=1), ResNetStage(channels=128, num_blocks=1, replace_stride_with_pooling=True),
              ResNetStage(channels=256, num_blocks=2, replace_stride_with_dilation=True),
              ResNetStage(channels=512, num_blocks=2, replace_stride_with_dilation=True)]
    model = ResNet(ResNetParams(block_type="basicblock", return_stage_idx=[1, 3]), stages).eval()
    assert model.feature_info.strides == (8, 8) and model.feature_info.channels == (128, 512)
    with torch.no_grad():
        check_features(model(torch.randn(1, 3, 64, 64)), model.feature_info, 64, 1)
    # torchvision keeps the previous dilation in the first block of a dilated stage
    assert model.layers[3][0].conv1.conv.dilation == (2, 2) and model.layers[3][1].conv1.conv.dilation == (4, 4)


@pytest.mark.parametrize("task", ["detection", "segmentation"])
def test_imagenet_weights_start_a_detection_or_segmentation_model(source, tmp_path, task):
    """``checkpoint: torchvision:FILE`` on the detection/segmentation resnet50 loads the whole backbone, says the
    neck/head start fresh, and still refuses a file of another depth."""
    from safetensors.torch import save_file

    from nptrain.checkpoints import load_weights

    if task == "segmentation":
        pytest.importorskip("np_plugin_segformer", reason="the resnet50 segmentation preset uses its decoder")
    src = tmp_path / "r50.safetensors"
    save_file({k: v.contiguous() for k, v in source.items()}, str(src))
    torch.manual_seed(0)
    model = nptrain.create_model("resnet50", task=task, num_classes=3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = load_weights(model, f"torchvision:{src}", preset="resnet50")
    after = model.state_dict()
    converted = from_torchvision(source, preset="resnet50")
    assert all(torch.equal(after[k], converted[k]) for k in after if k.startswith("backbone."))
    assert all(torch.equal(after[k], before[k]) for k in after if not k.startswith("backbone."))
    assert report.backbone_tensors == sum(k.startswith("backbone.") for k in after)
    assert report.fresh_parts == (["head", "neck"] if task == "detection" else ["head"])
    assert report.lines()[0].startswith(f"backbone only: {report.backbone_tensors} backbone tensors loaded")
    short = {k: v for k, v in source.items() if not k.startswith("layer3.5")}  # a file missing a block
    save_file({k: v.contiguous() for k, v in short.items()}, str(src))
    with pytest.raises(ConversionError, match="unfilled"):
        load_weights(nptrain.create_model("resnet50", task=task, num_classes=3), f"torchvision:{src}", preset="resnet50")


def test_misspelt_source_is_suggested():
    from nptrain.errors import UserError
    from nptrain.plugin_manager import default_plugins

    with pytest.raises(UserError, match=r"no converter 'torchvison' for preset 'resnet50' \(did you mean 'torchvision'\?\); "
                                        r"available sources: torchvision"):
        default_plugins().registry.converter("torchvison", "resnet50")
