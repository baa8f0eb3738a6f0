"""np-plugin-mobilenetv4 beyond the conformance matrix: the preset counts and what their layer scale adds, dense
features, NetsPresso's block lists checked where they are written (kind, arity, each value, the values one choice
needs), and the resolved config writing the block lists back as NetsPresso's lists. NetsPresso's outputs for its
five configs are reproduced in the repository's tests/test_npt_parity.py."""
from __future__ import annotations

import textwrap

import pytest
import torch

import nptrain
from nptrain.config.loader import load_config
from nptrain.errors import ConfigError

from np_plugin_mobilenetv4.presets import SETTINGS, TABLES


def _uir_widths(size: str) -> int:
    return sum(b[1] for stage in TABLES[size] for b in stage if b[0] in ("uir", "mmqa"))


@pytest.mark.parametrize("size", sorted(TABLES))
def test_layer_scale_adds_one_gamma_per_block_channel(size):
    """NetsPresso gives the conv small / medium and hybrid-medium models a layer scale: one gamma per output
    channel of every uir / mmqa block, and none to the large ones."""
    model = nptrain.create_model(f"mobilenetv4_{size}", num_classes=1000)
    gammas = sum(p.numel() for name, p in model.named_parameters() if name.endswith("layer_scale.gamma"))
    assert gammas == (_uir_widths(size) if SETTINGS[size][1] is not None else 0)


def test_dense_features_follow_the_blocks_strides():
    model = nptrain.create_model("mobilenetv4_conv_small", num_classes=3)
    feats = model.backbone(torch.zeros(1, 3, 64, 64))
    info = model.backbone.feature_info.features
    assert [f.shape[1] for f in feats] == [c.channels for c in info] == [32, 64, 96, 960]
    assert [64 // f.shape[-1] for f in feats] == [c.stride for c in info] == [4, 8, 16, 32]


BASE = """
model:
  task: classification
  name: mnv4
  architecture:
    backbone:
      name: mobilenetv4
      params: {layer_scale: 0.1}
      stage_params:
        - [['conv', 32, 3, 2]]
        - [['uir', 48, 96, true, 3, true, 3, 2], BLOCK]
    head:
      name: fc_conv
"""


@pytest.mark.parametrize("block,where,message", [
    ("['uir', 48, 96, true, 3, true, 3]", "stage_params[1][1]", "'uir' takes 7 values after its name"),
    ("['mqa', 48, 64, 4, ~, false, ~, ~, 1]", "stage_params[1][1]", "unknown block 'mqa'"),
    ("['uir', 48, 96, yes, 3, true, 3, 1]", "stage_params[1][1][3]", "extra_dw expected true or false"),
    ("['uir', 48, 96, false, ~, true, 3, 3]", "stage_params[1][1][7]", "stride expected 1 or 2, got 3"),
    ("['uir', 48, 96, false, ~, true, ~, 1]", "stage_params[1][1]", "middle_dw is true, so middle_dw_kernel_size"),
    ("['mmqa', 48, 60, 8, ~, false, ~, ~, 1]", "stage_params[1][1]", "attention_channel 60 must be divisible"),
    ("['mmqa', 48, 64, 4, ~, false, ~, ~, 2]", "stage_params[1][1][8]", "stride must be 1 (the block keeps the resolution)"),
])
def test_block_errors_are_located_and_say_what_the_block_takes(tmp_path, block, where, message):
    path = tmp_path / "m.yaml"
    path.write_text(textwrap.dedent(BASE).replace("BLOCK", block))
    with pytest.raises(ConfigError) as err:
        load_config([str(path)])
    text = str(err.value)
    assert "\n" not in text and f"{path}:" in text and where in text and message in text, text


def test_block_lists_round_trip_through_the_resolved_config(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(textwrap.dedent(BASE).replace("BLOCK", "['mmqa', 48, 64, 4, ~, true, 3, 2, 1]"))
    loaded = load_config([str(path)])
    written = loaded.unstructure()["model"]["architecture"]["backbone"]["stage_params"]
    assert written == [[["conv", 32, 3, 2]], [["uir", 48, 96, True, 3, True, 3, 2], ["mmqa", 48, 64, 4, None, True, 3, 2, 1]]]
    model = nptrain.create_model(str(path), num_classes=3).eval()
    out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 3) and torch.isfinite(out).all()


def test_a_hybrid_model_prunes_rebuilds_trains_and_exports():
    """The conformance matrix prunes the smallest preset (convolutions only); the attention blocks' shared key and
    value head must stay aligned with the query heads through pruning too."""
    from nptrain.testing.compress import check_prune_rebuild_train_export

    check_prune_rebuild_train_export(lambda: nptrain.create_model("mobilenetv4_hybrid_medium", num_classes=4),
                                     torch.randn(2, 3, 64, 64), what="mobilenetv4_hybrid_medium")


def test_attention_blocks_give_the_same_step_in_channels_last():
    """The presets train in channels_last: the hybrid's attention (flatten, einsum, reshape) must compute the same
    loss and gradients as in contiguous layout. In float64, so rounding (which a deep net with BatchNorm on a tiny
    batch amplifies to ~0.2 % in float32) does not hide a layout mistake: agreement to 1e-9 of each tensor's scale."""
    import copy

    torch.manual_seed(0)
    model = nptrain.create_model("mobilenetv4_hybrid_medium", num_classes=3).double().train()
    x, y = torch.randn(2, 3, 64, 64, dtype=torch.float64), torch.tensor([0, 2])

    def step(m, fmt):
        m = m.to(memory_format=fmt)
        loss = torch.nn.functional.cross_entropy(m(x.contiguous(memory_format=fmt)), y)
        loss.backward()
        return float(loss.detach()), {n: p.grad for n, p in m.named_parameters()}

    loss_a, grads_a = step(copy.deepcopy(model), torch.contiguous_format)
    loss_b, grads_b = step(model, torch.channels_last)
    assert loss_b == pytest.approx(loss_a, rel=1e-12)
    overall = max(float(g.abs().max()) for g in grads_a.values())
    for name, g in grads_a.items():
        assert float((grads_b[name] - g).abs().max()) <= 1e-9 * max(float(g.abs().max()), 1e-3 * overall), name
