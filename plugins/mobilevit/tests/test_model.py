"""The mobilevit backbone: exact ml-cvnets parameter counts, unfolding/folding, other input sizes, options, fx."""
from __future__ import annotations

import subprocess
import sys

import attrs
import pytest
import torch
import torch.fx
import torch.nn.functional as F

import nptrain
from nptrain.errors import ConfigError

from np_plugin_mobilevit.model import MobileViT, MobileViTBlock, build, make_divisible
from np_plugin_mobilevit.params import STAGES, MobileViTParams, MobileViTStageParams
from np_plugin_mobilevit.presets import PARAMS

TINY = [MobileViTStageParams(block_type="mv2", out_channels=16, num_blocks=1, stride=1, ir_expansion_ratio=2),
        MobileViTStageParams(block_type="mv2", out_channels=16, num_blocks=2, stride=2, ir_expansion_ratio=2),
        MobileViTStageParams(block_type="mobilevit", out_channels=24, num_blocks=1, stride=2, ir_expansion_ratio=2,
                             attention_channels=32, ffn_intermediate_channels=64),
        MobileViTStageParams(block_type="mobilevit", out_channels=32, num_blocks=1, stride=2, ir_expansion_ratio=2,
                             attention_channels=32, ffn_intermediate_channels=64),
        MobileViTStageParams(block_type="mobilevit", out_channels=32, num_blocks=2, stride=2, ir_expansion_ratio=2,
                             attention_channels=48, ffn_intermediate_channels=96)]


def mlcvnets_param_count(stages: list[dict], num_classes: int = 1000) -> int:
    """Parameters of ml-cvnets' MobileViT, counted by hand from its layout (ConvLayer2d convs are bias-free,
    BatchNorm and LayerNorm have weight and bias, the transformer Linears have biases)."""
    bn = lambda c: 2 * c  # noqa: E731

    def inverted_residual(cin: int, cout: int, ratio: float) -> int:
        hidden = int(round(cin * ratio))
        assert hidden % 8 == 0  # ml-cvnets' make_divisible(…, 8) leaves these widths unchanged
        return (cin * hidden + bn(hidden) if ratio != 1 else 0) + 9 * hidden + bn(hidden) + hidden * cout + bn(cout)

    def encoder(d: int, f: int) -> int:
        return bn(d) + (3 * d * d + 3 * d) + (d * d + d) + bn(d) + (d * f + f) + (f * d + d)

    count, c = 3 * 16 * 9 + bn(16), 16
    for s in stages:
        if s["block_type"] == "mv2":
            for i in range(s["num_blocks"]):
                count += inverted_residual(c, s["out_channels"], s["ir_expansion_ratio"])
                c = s["out_channels"]
        else:
            count += inverted_residual(c, s["out_channels"], s["ir_expansion_ratio"])
            c, d, f = s["out_channels"], s["attention_channels"], s["ffn_intermediate_channels"]
            count += (9 * c * c + bn(c)) + c * d + s["num_blocks"] * encoder(d, f) + bn(d) + (d * c + bn(c))
            count += 9 * 2 * c * c + bn(c)  # fusion
    out = min(4 * c, 960)
    return count + c * out + bn(out) + out * num_classes + num_classes


def _count(model: torch.nn.Module) -> int:
    return sum(t.numel() for t in model.parameters())


def test_entry_module_does_not_import_torch():
    code = ("import sys, np_plugin_mobilevit.plugin as p; p.nptrain_presets(); p.nptrain_backbones(); "
            "p.nptrain_converters(); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("preset", sorted(PARAMS))
def test_preset_param_counts_equal_mlcvnets(preset):
    # s: 5,578,632 (fixture source.json); xs: 2,317,848; xxs: 1,272,024 (the paper's 5.6M / 2.3M / 1.3M)
    with torch.device("meta"):
        model = nptrain.create_model(preset, num_classes=1000)
    assert _count(model) == PARAMS[preset] == mlcvnets_param_count(STAGES[preset])


def test_defaults_are_mobilevit_s():
    with torch.device("meta"):
        model = build(None, [], "classification")
    assert _count(model) == PARAMS["mobilevit_s"] - (640 * 1000 + 1000)
    assert model.feature_info.channels == (640,) and model.feature_info.strides == (32,)


def test_make_divisible_like_mobilenet():
    assert [make_divisible(v) for v in (32, 36, 12, 4, 100)] == [32, 40, 16, 8, 104]


def _mlcvnets_unfold(fm: torch.Tensor, p: int) -> torch.Tensor:
    """ml-cvnets' sequence of reshapes:
    (B,C,H,W) -> (B*C*nh, p, nw, p) -> (B*C*nh, nw, p, p) -> (B,C,N,P) -> (B*P, N, C)."""
    b, c, h, w = fm.shape
    nh, nw = h // p, w // p
    t = fm.reshape(b * c * nh, p, nw, p).transpose(1, 2).reshape(b, c, nh * nw, p * p)
    return t.transpose(1, 3).reshape(b * p * p, nh * nw, -1)


@pytest.mark.parametrize("p,size", [(2, (8, 12)), (3, (9, 6)), (1, (4, 4))])
def test_unfold_fold_match_mlcvnets_token_layout(p, size):
    block = MobileViTBlock(8, 16, 32, 1, MobileViTParams(patch_size=p, num_attention_heads=2))
    fm = torch.randn(2, 16, *size)
    nh, nw = size[0] // p, size[1] // p
    tokens = block.unfold(fm, 2, nh, nw)
    assert torch.equal(tokens, _mlcvnets_unfold(fm, p))
    assert torch.equal(block.fold(tokens, 2, nh, nw), fm)


@pytest.mark.parametrize("size", [(6, 6), (5, 7), (4, 6)])
def test_block_resizes_like_mlcvnets_when_not_divisible(size):
    torch.manual_seed(0)
    block = MobileViTBlock(8, 16, 32, 2, MobileViTParams(num_attention_heads=2)).eval()
    x = torch.randn(2, 8, *size)
    with torch.no_grad():
        fm = block.local_proj(block.local_conv(x))
        h, w = size
        up = (-(-h // 2) * 2, -(-w // 2) * 2)
        resized = up != size  # ml-cvnets resizes only then
        if resized:
            fm = F.interpolate(fm, size=up, mode="bilinear", align_corners=False)
        tokens = block.norm(block.transformer(_mlcvnets_unfold(fm, 2)))
        fm = block.fold(tokens, 2, up[0] // 2, up[1] // 2)
        if resized:
            fm = F.interpolate(fm, size=size, mode="bilinear", align_corners=False)
        reference = block.fusion(torch.cat((x, block.proj(fm)), dim=1))
        ours = block(x)
    assert ours.shape == (2, 8, *size)
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-6)


def test_one_trace_serves_every_input_size():
    torch.manual_seed(0)
    model = build(MobileViTParams(), TINY, "classification").eval()
    traced = torch.fx.symbolic_trace(model)
    # 64: every stage divisible; 96 x 160: 3x5 at stride 32, so the last block resizes to 4x6 and back
    for shape in [(64, 64), (96, 160), (224, 224)]:
        x = torch.randn(1, 3, *shape)
        with torch.no_grad():
            out = model(x)[0]
            assert torch.equal(traced(x)[0], out)
        assert out.shape == (1, 128, -(-shape[0] // 32), -(-shape[1] // 32))


def test_without_fusion_layer():
    with torch.device("meta"):
        full = build(MobileViTParams(), [], "classification")
        plain = build(MobileViTParams(use_fusion_layer=False), [], "classification")
    fusion = sum(9 * 2 * c * c + 2 * c for c in (96, 128, 160))
    assert _count(full) - _count(plain) == fusion
    assert all(b.fusion is None for b in plain.modules() if isinstance(b, MobileViTBlock))
    model = build(MobileViTParams(use_fusion_layer=False), TINY, "classification").eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(torch.fx.symbolic_trace(model)(x)[0], model(x)[0])


def test_dilated_stages_keep_resolution():
    stages = [attrs.evolve(s, dilate=i >= 3) for i, s in enumerate(TINY)]
    model = build(MobileViTParams(), stages, "classification").eval()
    assert model.feature_info.strides == (8,)
    assert model.stages[4][0].dwconv.conv.dilation == (2, 2) and model.stages[4][0].dwconv.conv.stride == (1, 1)
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64))[0].shape == (1, 128, 8, 8)


def test_stride_one_mobilevit_stage_has_no_downsampling_block():
    stages = TINY[:2] + [MobileViTStageParams(block_type="mobilevit", out_channels=99, num_blocks=1, stride=1,
                                              attention_channels=32, ffn_intermediate_channels=64)]
    model = build(MobileViTParams(), stages, "classification")
    # as in ml-cvnets, the block works on the stage input width (out_channels only sizes the downsampling block)
    assert len(model.stages[2]) == 1 and isinstance(model.stages[2][0], MobileViTBlock)
    assert model.feature_info.channels == (64,) and model.feature_info.strides == (4,)


def test_invalid_options_are_rejected():
    with pytest.raises(ValueError, match="attention_channels and ffn_intermediate_channels"):
        MobileViTStageParams(block_type="mobilevit")
    message = r"num_attention_heads: attention_channels \(144\) must be divisible by num_attention_heads \(5\)"
    with pytest.raises(ConfigError, match=message):
        build(MobileViTParams(num_attention_heads=5), [], "classification")
    with pytest.raises(ValueError, match="odd"):
        MobileViTParams(conv_kernel_size=4)


def test_config_errors_name_the_field():
    arch = {"backbone": {"name": "mobilevit", "stage_params": [{**STAGES["mobilevit_s"][0], "block_type": "mobilvit"}]},
            "head": {"name": "fc"}}
    message = r"block_type: expected one of mv2, mobilevit; got 'mobilvit' \(did you mean 'mobilevit'"
    with pytest.raises(ConfigError, match=message):
        nptrain.create_model({"task": "classification", "architecture": arch}, num_classes=3)


def test_training_mode_gradients_reach_every_parameter():
    model = build(MobileViTParams(), TINY, "classification").train()
    model(torch.randn(2, 3, 64, 64))[0].square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())
