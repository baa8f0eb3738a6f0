"""The vit backbone's options, its position-embedding resizing, fx traceability and the light entry module."""
from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch
import torch.fx

import nptrain
from nptrain.errors import ConfigError
from nptrain.records import Feature

from np_plugin_vit.model import VisionTransformer, build, drop_path_rates, sinusoidal_table
from np_plugin_vit.params import ViTParams

SMALL = dict(attention_channels=32, num_blocks=2, num_attention_heads=2, ffn_intermediate_channels=64, image_size=64)


def expected_param_count(p: ViTParams) -> int:
    """Parameters of ml-cvnets' VisionTransformer backbone (no classifier), counted by hand from its layout."""
    d, f, k0 = p.attention_channels, p.ffn_intermediate_channels, p.patch_size // 4
    c = p.stem_channels or max(32, d // 4)
    stem = (3 * c * k0 * k0 + 2 * c) + (c * c * 4 + 2 * c) + (c * d * 4 + d)
    block = 2 * d + (3 * d * d + 3 * d) + (d * d + d) + 2 * d + (d * f + f) + (f * d + d)
    pos = 0 if p.use_sinusoidal_pos_embed else (p.image_size // p.patch_size) ** 2 * d
    return stem + p.num_blocks * block + 2 * d + (d if p.use_cls_token else 0) + pos


def _count(model: torch.nn.Module) -> int:
    return sum(t.numel() for t in model.parameters())


def test_entry_module_does_not_import_torch():
    code = "import sys, np_plugin_vit.plugin as p; p.nptrain_presets(); p.nptrain_backbones(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("params", [
    ViTParams(),  # ml-cvnets tiny: 5,618,344 - 193,000 classifier = 5,425,344
    ViTParams(attention_channels=384, num_attention_heads=6, ffn_intermediate_channels=1536),  # ml-cvnets small
    ViTParams(**SMALL, patch_size=8, use_cls_token=False, use_sinusoidal_pos_embed=True, stem_channels=24),
], ids=["tiny", "small", "variant"])
def test_param_count_matches_mlcvnets_layout(params):
    with torch.device("meta"):
        model = VisionTransformer(params)
    assert _count(model) == expected_param_count(params)


def test_defaults_are_vit_tiny():
    with torch.device("meta"):
        assert _count(VisionTransformer(ViTParams())) == 5_618_344 - (192 * 1000 + 1000)


@pytest.mark.parametrize("options,size", [
    ({}, (64, 64)),
    ({}, (48, 80)),  # non-square: 3x5 patches, the table is stretched to 15 entries
    ({"use_cls_token": False}, (64, 64)),
    ({"use_sinusoidal_pos_embed": True, "image_size": 32}, (64, 64)),
    ({"patch_size": 8, "drop_path_rate": 0.2, "act_type": "gelu_tanh"}, (32, 32)),
], ids=["square", "non-square", "no-cls", "sinusoidal", "patch8"])
def test_forward_shape_and_fx_exact(options, size):
    torch.manual_seed(0)
    model = build(ViTParams(**{**SMALL, **options}), [], "classification").eval()
    assert model.feature_info.features == (Feature(32, None),)
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        out = model(x)
        assert isinstance(out, tuple) and len(out) == 1 and out[0].shape == (2, 32)
        traced = torch.fx.symbolic_trace(model)
        again = traced(x)
    assert isinstance(again, tuple) and torch.equal(again[0], out[0])


def test_position_embedding_is_linear_in_the_token_index():
    torch.manual_seed(0)
    model = VisionTransformer(ViTParams(**SMALL))  # 16-entry table
    table = model.pos_embed.detach()[0, 0].double()  # (16, 32)
    assert torch.equal(model.position_embedding(torch.zeros(1, 16, 32))[0], model.pos_embed[0, 0])  # identity at the table's size
    for n in (4, 9, 25):
        # half-pixel mapping (align_corners=False) from output token j to a fractional source index
        src = ((torch.arange(n, dtype=torch.float64) + 0.5) * 16 / n - 0.5).clamp(min=0)
        lo = src.floor().long().clamp(max=15)
        hi = (lo + 1).clamp(max=15)
        w = (src - lo).unsqueeze(1)
        reference = table[lo] * (1 - w) + table[hi] * w
        got = model.position_embedding(torch.zeros(2, n, 32))[0].detach().double()
        assert got.shape == (n, 32)
        assert torch.allclose(got, reference, atol=1e-6), n


def test_sinusoidal_table_is_fixed_and_not_saved():
    model = VisionTransformer(ViTParams(**SMALL, use_sinusoidal_pos_embed=True))
    assert "pos_embed" not in model.state_dict() and not any("pos_embed" in n for n, _ in model.named_parameters())
    table = sinusoidal_table(16, 32)[0, 0]
    p, c = 5, 3
    freq = math.exp(-c * math.log(10000) / 15)
    assert table[p, c].item() == pytest.approx(math.sin(p * freq), abs=1e-6)
    assert table[p, 16 + c].item() == pytest.approx(math.cos(p * freq), abs=1e-6)
    assert sinusoidal_table(4, 7).shape == (1, 1, 4, 7) and torch.all(sinusoidal_table(4, 7)[..., -1] == 0)


def test_no_cls_token_feature_is_the_token_mean():
    torch.manual_seed(0)
    model = VisionTransformer(ViTParams(**SMALL, use_cls_token=False)).eval()
    x = torch.randn(1, 3, 64, 64)
    seen = {}
    model.norm.register_forward_hook(lambda m, i, o: seen.setdefault("tokens", o))
    with torch.no_grad():
        feature = model(x)[0]
    assert seen["tokens"].shape == (1, 16, 32)  # 4x4 patches, no extra token
    assert torch.equal(feature, seen["tokens"].mean(dim=1))


def test_dropouts_and_stochastic_depth_sit_where_mlcvnets_puts_them():
    model = VisionTransformer(ViTParams(**SMALL, attention_dropout_prob=0.1, ffn_dropout_prob=0.2, dropout_prob=0.3,
                                        pos_embed_dropout_prob=0.4, drop_path_rate=0.5))
    block = model.blocks[1]
    assert (block.token_mixer.attn_drop.p, block.token_mixer.proj_drop.p) == (0.1, 0.3)
    assert (block.mlp.drop1.p, block.mlp.drop2.p) == (0.2, 0.3)
    assert model.pos_drop.p == 0.4 and model.blocks[0].drop_path.p == 0.0 and block.drop_path.p == 0.5
    assert drop_path_rates(0.1, 12) == [round(0.1 * i / 11, 3) for i in range(12)] and drop_path_rates(0.3, 1) == [0.0]
    assert [m.eps for m in (block.norm1, block.norm2, model.norm)] == [1e-6] * 3


def test_stem_downsamples_like_mlcvnets():
    model = VisionTransformer(ViTParams())
    convs = [s.conv for s in model.stem]
    assert [(c.kernel_size, c.stride, c.padding) for c in convs] == [((4, 4), (4, 4), (1, 1)), ((2, 2), (2, 2), (0, 0)),
                                                                      ((2, 2), (2, 2), (0, 0))]
    assert [c.bias is not None for c in convs] == [False, False, True]
    assert [type(s.norm).__name__ for s in model.stem] == ["BatchNorm2d", "BatchNorm2d", "Identity"]


def test_classification_only_and_no_stages():
    with pytest.raises(ValueError, match="classification only"):
        build(ViTParams(**SMALL), [], "segmentation")
    with pytest.raises(ValueError, match="no stage_params"):
        build(ViTParams(**SMALL), [object()], "classification")


@pytest.mark.parametrize("params,message", [
    ({"attention_channels": 100}, "divisible by num_attention_heads"),
    ({"patch_size": 6}, "multiple of 4"),
    ({"act_type": "gelu2"}, "did you mean 'gelu'"),
    ({"image_size": 8}, "at least patch_size"),
])
def test_bad_params_are_config_errors(params, message):
    arch = {"backbone": {"name": "vit", "params": params}, "head": {"name": "fc"}}
    with pytest.raises(ConfigError, match=message):
        nptrain.create_model({"task": "classification", "architecture": arch}, num_classes=3)


def test_onnx_export_matches_pytorch(tmp_path):
    from nptrain.export_tools import export_onnx_checked

    torch.manual_seed(0)
    model = nptrain.create_model("vit_tiny", num_classes=4).eval()
    report = export_onnx_checked(model, torch.randn(2, 3, 64, 64), tmp_path / "vit.onnx", opset=17, dynamic_batch=True)
    assert report["opset"] == 17


def test_netspresso_style_is_one_patch_conv_and_a_saved_table_on_every_token():
    """``style: netspresso`` (NetsPresso Trainer's ViT): a 17x17 stride-16 patch conv, CLS first, the interleaved
    sin/cos table added to every token; parameters counted by hand, the table saved, fx over two input sizes.
    NetsPresso's own outputs are reproduced in the repository's tests/test_npt_parity.py (vit-tiny)."""
    from np_plugin_vit.model import interleaved_table

    p = ViTParams(**SMALL, style="netspresso", vocab_size=40, norm_eps=1e-5)
    model = VisionTransformer(p).eval()
    d, f = p.attention_channels, p.ffn_intermediate_channels
    block = 2 * d + (3 * d * d + 3 * d) + (d * d + d) + 2 * d + (d * f + f) + (f * d + d)
    assert sum(x.numel() for x in model.parameters()) == (3 * 17 * 17 * d + d) + d + p.num_blocks * block + 2 * d
    assert model.patch_emb.kernel_size == (17, 17) and model.patch_emb.padding == (8, 8)
    assert "pos_embed" in model.state_dict() and model.pos_embed.shape == (1, 40, d)
    table = interleaved_table(40, d)[0]
    assert torch.equal(table[3, 0::2], torch.sin(3 * torch.exp(torch.arange(0, d, 2) * (-math.log(10000.0) / d))))
    traced = torch.fx.symbolic_trace(model)
    for side in (64, 96):  # 17 and 37 tokens with the CLS token: the table's first rows
        x = torch.randn(2, 3, side, side)
        with torch.no_grad():
            out = model(x)[0]
            assert out.shape == (2, d) and torch.equal(traced(x)[0], out)
