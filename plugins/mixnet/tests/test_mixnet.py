"""MixNet as NetsPresso Trainer builds it: structure, its checkpoint layout, located config errors, and a
one-line refusal where structured pruning cannot follow its channel splits."""
from __future__ import annotations

import textwrap

import pytest
import torch

import nptrain
from nptrain.compression.prune import prune
from nptrain.config.loader import load_config
from nptrain.errors import ConfigError, UserError

from np_plugin_mixnet.model import GroupedPointwise, MixedDepthwise


def test_mixed_and_grouped_convs_split_channels_equally():
    """A mixed depthwise conv gives each kernel size an equal channel slice; the grouped 1x1 conv equals a
    torch grouped conv (block-diagonal) with the same weights."""
    torch.manual_seed(0)
    mixed = MixedDepthwise(12, [3, 5, 7], 1)
    assert [(c.in_channels, c.kernel_size) for c in mixed.mixed_depth_wise] == [(4, (3, 3)), (4, (5, 5)), (4, (7, 7))]
    x = torch.randn(2, 12, 9, 9)
    y = mixed(x)
    for i, conv in enumerate(mixed.mixed_depth_wise):
        assert torch.allclose(y[:, 4 * i:4 * i + 4], conv(x[:, 4 * i:4 * i + 4]))
    grouped = GroupedPointwise(12, 6, 2)
    ref = torch.nn.Conv2d(12, 6, 1, groups=2, bias=False)
    ref.weight.data = torch.cat([c.weight for c in grouped.group_point_wise])
    assert torch.allclose(grouped(x), ref(x), atol=1e-6)
    with pytest.raises(ValueError, match="cannot be split"):
        GroupedPointwise(12, 7, 2)


@pytest.mark.parametrize("size,stem,last_width", [("s", 16, 200), ("m", 24, 200), ("l", 32, 264)])
def test_presets_follow_netspressos_widths(size, stem, last_width):
    model = nptrain.create_model(f"mixnet_{size}", num_classes=10)
    assert model.backbone.mod1.block.conv.out_channels == stem  # l: 24 * 1.3 rounded to a multiple of 8
    blocks = [m for m in model.backbone.stages[-1] if hasattr(m, "point_wise")]
    assert blocks[-1].point_wise.norm.num_features == last_width
    assert model.backbone.feature_info.channels[-1] == 1536 and model.backbone.feature_info.strides == (4, 8, 16, 32)
    assert all(m.eps == 1e-3 for n, m in model.named_modules()
               if isinstance(m, torch.nn.BatchNorm2d) and ".point_wise." in n)


def test_compress_refuses_in_one_line(tmp_path, capsys):
    model = nptrain.create_model("mixnet_s", num_classes=4)
    with pytest.raises(UserError, match=r"cannot be pruned: backbone: MixNet splits channels"):
        prune(model, torch.randn(1, 3, 64, 64), ratio=0.5)


BASE = """
model:
  task: classification
  name: mx
  architecture:
    backbone:
      name: mixnet
      params: {stem_channels: 16, dropout_rate: 0.}
      stage_params:
        - {STAGE}
    head: {name: fc}
"""


@pytest.mark.parametrize("stage,message", [
    ("{expansion_ratio: [1, 6], out_channels: [16], num_blocks: [1, 1], kernel_sizes: [[3], [3]], "
     "num_exp_groups: [1, 2], num_poi_groups: [1, 2], stride: [1, 2], act_type: [relu, relu], "
     "se_reduction_ratio: [~, ~]}", "one entry per block group: out_channels has 1, expansion_ratio has 2"),
    ("{expansion_ratio: [1], out_channels: [16], num_blocks: [1], kernel_sizes: [[]], num_exp_groups: [1], "
     "num_poi_groups: [1], stride: [1], act_type: [relu], se_reduction_ratio: [~]}", "non-empty list"),
    ("{expansion_ratio: [1], out_channels: [16], num_blocks: [1], kernel_sizes: [[3]], num_exp_groups: [1], "
     "num_poi_groups: [1], stride: [1], act_type: [mish], se_reduction_ratio: [~]}", "act_type"),
])
def test_stage_errors_are_located(tmp_path, stage, message):
    path = tmp_path / "m.yaml"
    path.write_text(textwrap.dedent(BASE).replace("{STAGE}", stage))
    with pytest.raises(ConfigError) as err:
        load_config([str(path)])
    text = str(err.value)
    assert f"{path}:" in text and "model.architecture.backbone.stage_params[0]" in text and message in text, text


def test_a_group_count_that_does_not_divide_is_one_located_line(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(textwrap.dedent(BASE).replace(
        "{STAGE}", "{expansion_ratio: [3], out_channels: [24], num_blocks: [1], kernel_sizes: [[3, 5]], "
                   "num_exp_groups: [5], num_poi_groups: [1], stride: [2], act_type: [relu], se_reduction_ratio: [~]}"))
    with pytest.raises(ConfigError) as err:  # found when the model is built (config check builds it too)
        nptrain.create_model(path, num_classes=3)
    text = str(err.value)
    assert "\n" not in text and f"{path}:" in text and "cannot be split into 5 groups" in text, text
