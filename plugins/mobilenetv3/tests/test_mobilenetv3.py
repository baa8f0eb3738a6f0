"""MobileNetV3 as NetsPresso Trainer builds it: parameter counts, its checkpoint layout, located config errors."""
from __future__ import annotations

import textwrap

import pytest
import torch
from safetensors.torch import save_file

import nptrain
from nptrain.checkpoints import load_weights
from nptrain.config.loader import load_config
from nptrain.errors import ConfigError, UserError

# torchvision's mobilenet_v3_small / _large with 1000 classes (the presets' widths are theirs)
TORCHVISION_PARAMS = {"small": 2_542_856, "large": 5_483_032}


@pytest.mark.parametrize("size", ["small", "large"])
def test_presets_have_torchvisions_parameter_count(size):
    model = nptrain.create_model(f"mobilenet_v3_{size}", num_classes=1000)
    assert sum(p.numel() for p in model.parameters()) == TORCHVISION_PARAMS[size]
    bn = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bn and all(m.eps == 1e-3 for m in bn)  # torchvision's and NetsPresso's eps
    feats = model.backbone(torch.zeros(1, 3, 64, 64))
    assert [f.shape[1] for f in feats] == [c.channels for c in model.backbone.feature_info.features]
    assert [64 // f.shape[-1] for f in feats] == [c.stride for c in model.backbone.feature_info.features]


def test_a_netspresso_checkpoint_loads_and_a_narrower_one_is_refused(tmp_path):
    """A state dict in NetsPresso's key layout (its fc head's classifier.0 / classifier.3) loads strictly and
    is recognised; one of another width names the offending keys instead of loading partly."""
    ours = nptrain.create_model("mobilenet_v3_small", num_classes=10)
    theirs = {}
    for key, value in ours.state_dict().items():
        key = key.replace("head.hidden.0.", "head.classifier.0.").replace("head.classifier.weight", "head.classifier.3.weight")
        theirs[key.replace("head.classifier.bias", "head.classifier.3.bias")] = torch.randn_like(value.float()).to(value.dtype)
    path = tmp_path / "classification_mobilenet_v3_small_best.safetensors"
    save_file(theirs, str(path))
    fresh = nptrain.create_model("mobilenet_v3_small", num_classes=10)
    report = load_weights(fresh, str(path))
    assert report.layout == "NetsPresso Trainer" and "layout recognised" in report.lines()[0]
    assert torch.equal(fresh.state_dict()["head.classifier.weight"], theirs["head.classifier.3.weight"])
    assert torch.equal(fresh.state_dict()["backbone.conv_first.block.conv.weight"],
                       theirs["backbone.conv_first.block.conv.weight"])
    large = nptrain.create_model("mobilenet_v3_large", num_classes=10)
    with pytest.raises(UserError) as err:
        load_weights(large, str(path))
    text = str(err.value)
    assert "\n" not in text and str(path) in text and "the model expects" in text, text
    assert "laid out as NetsPresso Trainer saves its checkpoints, but not for this model" in text, text


BASE = """
model:
  task: classification
  name: mnv3
  architecture:
    backbone:
      name: mobilenetv3
      stage_params:
        - {in_channels: [16], kernel_sizes: [3], expanded_channels: [16], out_channels: [16],
           use_se: [true], act_type: [relu], stride: [2]}
        - {STAGE}
    head:
      name: fc
      params: {num_layers: 1, act_type: ~, dropout_prob: 0.}
"""


@pytest.mark.parametrize("stage,message", [
    ("{in_channels: [16, 24], kernel_sizes: [3], expanded_channels: [72, 88], out_channels: [24, 24], "
     "use_se: [false, false], act_type: [relu, relu], stride: [2, 1]}",
     "one entry per block: in_channels has 2, kernel_sizes has 1"),
    ("{in_channels: [16], kernel_sizes: [3], expanded_channels: [72], out_channels: [24], use_se: [false], "
     "act_type: [relu6], stride: [2]}", "act_type"),
    ("{in_channels: [16], kernel_sizes: [3], expanded_channels: [72], out_channels: [24], use_se: [false], "
     "act_type: [relu], stride: [3]}", "stride"),
    ("{in_channels: [16, 32], kernel_sizes: [3, 3], expanded_channels: [72, 88], out_channels: [24, 24], "
     "use_se: [false, false], act_type: [relu, relu], stride: [2, 1]}", "block 1: in_channels 32 must equal"),
])
def test_stage_errors_are_located(tmp_path, stage, message):
    path = tmp_path / "m.yaml"
    path.write_text(textwrap.dedent(BASE).replace("{STAGE}", stage))
    with pytest.raises(ConfigError) as err:
        load_config([str(path)])
    text = str(err.value)
    assert f"{path}:" in text and "model.architecture.backbone.stage_params[1]" in text and message in text, text


def test_fc_head_accepts_an_unused_activation_of_none(tmp_path):
    """NetsPresso writes ``act_type: ~`` with ``num_layers: 1``; only a hidden layer would need it."""
    path = tmp_path / "m.yaml"
    good = textwrap.dedent(BASE).replace(
        "{STAGE}", "{in_channels: [16], kernel_sizes: [3], expanded_channels: [72], out_channels: [24], "
                   "use_se: [false], act_type: [relu], stride: [2]}")
    path.write_text(good)
    assert load_config([str(path)]).resolved.head.params.act_type is None
    path.write_text(good.replace("num_layers: 1", "num_layers: 2"))
    with pytest.raises(ConfigError, match=r"model.architecture.head.params.*act_type: num_layers 2 puts an activation"):
        load_config([str(path)])
