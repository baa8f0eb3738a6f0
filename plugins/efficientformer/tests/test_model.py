"""The efficientformer backbone and head: tasks and feature maps, attention biases on any grid, options,
fx traceability, config errors and the light entry module."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch.fx

import nptrain
from nptrain.errors import ConfigError
from nptrain.records import Feature, FeatureInfo

from np_plugin_efficientformer.model import Attention, EfficientFormer, build, build_head
from np_plugin_efficientformer.params import EfficientFormerHeadParams, EfficientFormerParams, EfficientFormerStage

# a narrow l1-shaped model so the tests stay fast
SMALL = [EfficientFormerStage(num_blocks=n, channels=c) for n, c in ((1, 16), (1, 24), (2, 32), (3, 48))]
SMALL_PARAMS = dict(num_attention_heads=2, attention_channels=16, vit_num=2)


def _model(task: str = "classification", stages=SMALL, **options) -> EfficientFormer:
    torch.manual_seed(0)
    return build(EfficientFormerParams(**{**SMALL_PARAMS, **options}), stages, task).eval()


def test_entry_module_does_not_import_torch():
    code = ("import sys, np_plugin_efficientformer.plugin as p; p.nptrain_presets(); p.nptrain_backbones(); "
            "p.nptrain_heads(); p.nptrain_converters(); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("size", [(64, 64), (64, 96), (96, 32)], ids=["square", "wide", "tall"])
@pytest.mark.parametrize("task", ["classification", "segmentation", "detection"])
def test_features_per_task_and_fx_exact(task, size):
    model = _model(task)
    dense = task != "classification"
    expected = [Feature(16, 4), Feature(24, 8), Feature(32, 16), Feature(48, 32)] if dense else [Feature(48, 32)]
    assert model.feature_info == FeatureInfo(tuple(expected))
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        out = model(x)
        traced = torch.fx.symbolic_trace(model)
        again = traced(x)
    assert [tuple(o.shape) for o in out] == [(2, f.channels, size[0] // f.stride, size[1] // f.stride) for f in expected]
    assert all(torch.equal(a, b) for a, b in zip(again, out))


def test_one_traced_module_serves_every_input_size():
    model = _model("segmentation")
    traced = torch.fx.symbolic_trace(model)
    for size in ((64, 64), (128, 96), (32, 32)):
        x = torch.randn(1, 3, *size)
        with torch.no_grad():
            assert all(torch.equal(a, b) for a, b in zip(traced(x), model(x))), size


@pytest.mark.parametrize("h,w", [(7, 7), (3, 5), (1, 1), (9, 12)])
def test_bias_index_on_any_grid(h, w):
    attention = Attention(dim=8, num_heads=2, key_dim=4, value_dim=8, resolution=7)
    idx = attention.bias_index(h, w)
    assert idx.shape == (h * w, h * w)
    for q in range(h * w):
        for k in range(h * w):
            dy, dx = abs(q // w - k // w), abs(q % w - k % w)
            # snap's rule on its 7x7 grid; offsets past the table reuse its last row/column
            assert idx[q, k] == min(dy, 6) * 7 + min(dx, 6)


def test_attention_matches_a_written_out_reference():
    torch.manual_seed(0)
    attention = Attention(dim=12, num_heads=3, key_dim=4, value_dim=8, resolution=4).eval()
    torch.nn.init.normal_(attention.attention_biases)
    x = torch.randn(2, 3, 4, 12)  # (B, H, W, C)
    tokens = x.reshape(2, 12, 12)
    qkv = attention.qkv(tokens).reshape(2, 12, 3, 16).permute(0, 2, 1, 3)
    q, k, v = qkv[..., :4], qkv[..., 4:8], qkv[..., 8:]
    ys, xs = torch.meshgrid(torch.arange(3), torch.arange(4), indexing="ij")
    ys, xs = ys.flatten(), xs.flatten()
    idx = (ys[:, None] - ys[None]).abs() * 4 + (xs[:, None] - xs[None]).abs()
    attn = (q @ k.transpose(-2, -1) / 2.0 + attention.attention_biases[:, idx]).softmax(-1)
    reference = attention.proj((attn @ v).transpose(1, 2).reshape(2, 12, 24)).reshape(2, 3, 4, 12)
    with torch.no_grad():
        assert torch.allclose(attention(x), reference, atol=1e-6)


@pytest.mark.parametrize("vit_num", [0, 1, 3])
def test_vit_num_places_attention_blocks_last(vit_num):
    model = _model(vit_num=vit_num)
    names = [type(b).__name__ for b in model.stages[3].blocks]
    kinds = ["pool" if n == "MetaFormerBlock" and type(b.token_mixer).__name__ == "Pooling" else n
             for n, b in zip(names, model.stages[3].blocks)]
    assert kinds == ["pool"] * (3 - vit_num) + ["ToChannelsLast"] + ["MetaFormerBlock"] * vit_num
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64))[0].shape == (1, 48, 2, 2)


def test_options_reach_the_layers():
    model = _model(ffn_intermediate_ratio=3.0, ffn_dropout_prob=0.1, attention_dropout_prob=0.2, pool_size=5,
                   ffn_act_type="relu", drop_path_rate=0.6, attention_value_expansion_ratio=2,
                   attention_bias_resolution=4)
    b4, b3 = model.stages[0].blocks[0], model.stages[3].blocks[3]
    assert b4.token_mixer.pool.kernel_size == 5 and not b4.token_mixer.pool.count_include_pad
    assert b4.mlp.fc1.out_channels == 48 and isinstance(b4.mlp.act, torch.nn.ReLU) and b4.mlp.drop1.p == 0.1
    assert b3.mlp.fc1.out_features == 144 and b3.token_mixer.attn_drop.p == 0.2
    assert b3.token_mixer.proj.in_features == 2 * 8 * 2 and b3.token_mixer.attention_biases.shape == (2, 16)
    # stochastic depth rises linearly over all 7 blocks, as snap's meta_blocks does
    rates = [b.drop_path.p for s in model.stages for b in s.blocks if hasattr(b, "drop_path")]
    assert rates == pytest.approx([0.6 * i / 6 for i in range(7)])
    assert b4.ls1.gamma.detach().eq(1e-5).all()


def test_no_layer_scale_and_no_downsample():
    model = _model(layer_scale_init_value=None)
    assert not any("gamma" in n for n, _ in model.named_parameters())
    stages = [EfficientFormerStage(num_blocks=1, channels=c) for c in (16, 16, 32, 32)]
    flat = _model("segmentation", stages, vit_num=1, downsamples=[False, True, False, True])
    # no embedding where the flag is off and the width stays; the stride does not change there
    assert flat.feature_info.strides == (4, 4, 8, 8)
    assert isinstance(flat.stages[1].downsample, torch.nn.Identity)
    with torch.no_grad():
        assert [o.shape[-1] for o in flat(torch.randn(1, 3, 64, 64))] == [16, 16, 8, 8]


def test_defaults_are_l1():
    with torch.device("meta"):
        model = build(None, [], "classification")
        preset = nptrain.create_model("efficientformer_l1", num_classes=1000)
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in preset.backbone.parameters())


def test_head_modes():
    info = FeatureInfo((Feature(48, 32),))
    feats = (torch.randn(2, 48, 3, 3),)
    torch.manual_seed(0)
    head = build_head(EfficientFormerHeadParams(), info, 5, "classification")
    with torch.no_grad():
        train = head.train()(feats)
        pooled = feats[0].mean((2, 3))
        assert torch.allclose(train["logits_head"], head.classifier(pooled), atol=1e-6)
        assert torch.equal(train["pred"], (train["logits_head"] + train["logits_dist"]) / 2)
        assert torch.equal(head.eval()(feats), train["pred"])
    single = build_head(EfficientFormerHeadParams(distillation=False), info, 5, "classification")
    assert not hasattr(single, "dist_classifier") and single.train()(feats).shape == (2, 5)
    # a pooled vector (Feature stride None) from another backbone is used as is
    vec = build_head(None, FeatureInfo((Feature(48, None),)), 5, "classification").eval()
    with torch.no_grad():
        assert vec((pooled,)).shape == (2, 5)


def test_fc_head_on_this_backbone():
    arch = {"backbone": {"name": "efficientformer", "params": SMALL_PARAMS,
                         "stage_params": [{"num_blocks": s.num_blocks, "channels": s.channels} for s in SMALL]},
            "head": {"name": "fc"}}
    model = nptrain.create_model({"task": "classification", "architecture": arch}, num_classes=3).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 64, 64)).shape == (2, 3)


@pytest.mark.parametrize("params,stages,message", [
    ({"attention_channels": 100}, None, "divisible by num_attention_heads"),
    ({"ffn_act_type": "gelux"}, None, "did you mean 'gelu'"),
    ({"pool_size": 4}, None, "pool_size must be odd"),
    ({"downsamples": [True, True]}, None, "four booleans"),
    ({"vit_num": 5}, None, r"vit_num \(5\) exceeds"),
    ({}, [{"num_blocks": 1, "channels": 8}] * 3, "four stages"),
])
def test_bad_params_are_errors(params, stages, message):
    backbone = {"name": "efficientformer", "params": params}
    if stages:
        backbone["stage_params"] = stages
    arch = {"backbone": backbone, "head": {"name": "efficientformer_head"}}
    with pytest.raises((ConfigError, ValueError), match=message):
        nptrain.create_model({"task": "classification", "architecture": arch}, num_classes=3)


def test_onnx_export_matches_pytorch(tmp_path):
    from nptrain.export_tools import export_onnx_checked

    arch = {"backbone": {"name": "efficientformer", "params": SMALL_PARAMS,
                         "stage_params": [{"num_blocks": s.num_blocks, "channels": s.channels} for s in SMALL]},
            "head": {"name": "efficientformer_head"}}
    torch.manual_seed(0)
    model = nptrain.create_model({"task": "classification", "architecture": arch}, num_classes=4).eval()
    report = export_onnx_checked(model, torch.randn(2, 3, 64, 64), tmp_path / "ef.onnx", opset=17, dynamic_batch=True)
    assert report["opset"] == 17


def test_segmentation_with_all_mlp_decoder():
    from nptrain.plugin_manager import default_plugins

    if "all_mlp_decoder" not in {p.record.name for p in default_plugins().registry.all("head")}:
        pytest.skip("all_mlp_decoder comes with np-plugin-segformer, which is not installed")
    arch = {"backbone": {"name": "efficientformer", "params": SMALL_PARAMS,
                         "stage_params": [{"num_blocks": s.num_blocks, "channels": s.channels} for s in SMALL]},
            "head": {"name": "all_mlp_decoder"}}
    model = nptrain.create_model({"task": "segmentation", "architecture": arch}, num_classes=5).eval()
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        y = model(x)
        assert y.shape == (1, 5, 96, 128) and torch.equal(torch.fx.symbolic_trace(model)(x), y)
