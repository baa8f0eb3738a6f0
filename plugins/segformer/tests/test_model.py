"""MiT backbone and all-MLP decoder: exact parameter counts, shapes, fx exactness, pruning-friendly
reshapes, configs in NetsPresso's spelling, and a torch-free entry module."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch.fx
from torch import nn

import nptrain
from nptrain.layers import literal_forward
from nptrain.records import FeatureInfo
from nptrain.testing.conformance import check_features

from np_plugin_segformer.head import AllMLPDecoder
from np_plugin_segformer.model import EfficientSelfAttention, MixTransformer
from np_plugin_segformer.params import AllMLPDecoderParams, MixTransformerParams, MixTransformerStage
from np_plugin_segformer.presets import HEADS, PARAMS, PATCH_SIZES, SR_RATIOS, VARIANTS


def hf_param_count(widths, depths, num_classes: int = 1000, mlp_ratio: int = 4) -> int:
    """SegformerForImageClassification's parameter count, written out from its module list
    (transformers 4.x modeling_segformer.py), independently of our model code."""
    total, cin = 0, 3
    for c, d, sr, p in zip(widths, depths, SR_RATIOS, PATCH_SIZES):
        total += cin * c * p * p + c + 2 * c                       # patch_embeddings.i: proj + layer_norm
        hidden = mlp_ratio * c
        block = 2 * 2 * c                                          # layer_norm_1, layer_norm_2
        block += 4 * (c * c + c)                                   # query, key, value, output.dense
        block += (c * c * sr * sr + c + 2 * c) if sr > 1 else 0    # sr conv + its layer_norm
        block += c * hidden + hidden + hidden * 9 + hidden + hidden * c + c  # dense1, dwconv, dense2
        total += d * block + 2 * c                                 # blocks + encoder.layer_norm.i
        cin = c
    return total + widths[-1] * num_classes + num_classes          # classifier


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_preset_param_counts_equal_hugging_face(variant):
    widths, depths = VARIANTS[variant]
    with torch.device("meta"):
        model = nptrain.create_model(f"mit_{variant}", num_classes=1000)
    count = sum(p.numel() for p in model.parameters())
    assert count == PARAMS[f"mit_{variant}"] == hf_param_count(widths, depths)


def test_published_encoder_sizes():
    # Xie et al. 2021, Table 6: encoder parameters 13.1M, 24.2M, 44.0M, 60.8M, 81.4M for B1..B5
    published = {"b1": 13.1, "b2": 24.2, "b3": 44.0, "b4": 60.8, "b5": 81.4}
    for variant, millions in published.items():
        encoder = PARAMS[f"mit_{variant}"] - (512 * 1000 + 1000)
        assert abs(encoder / 1e6 - millions) < 0.1, variant  # the paper rounds loosely (13.15M → 13.1)


def test_segformer_b0_default_and_feature_info():
    model = nptrain.create_model("segformer_b0", num_classes=7).eval()
    assert model.backbone.feature_info == FeatureInfo.of([32, 64, 160, 256], [4, 8, 16, 32])
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        features = model.backbone(x)
        logits = model.head(features)
    assert [tuple(f.shape) for f in features] == [(2, 32, 16, 24), (2, 64, 8, 12), (2, 160, 4, 6), (2, 256, 2, 3)]
    assert tuple(logits.shape) == (2, 7, 16, 24)
    assert all(f.is_contiguous() for f in features)


def _tiny_stages() -> list[MixTransformerStage]:
    return [MixTransformerStage(num_blocks=1, sequence_reduction_ratio=4, attention_chananels=16,
                                embedding_patch_sizes=7, embedding_strides=4, num_attention_heads=2),
            MixTransformerStage(num_blocks=2, sequence_reduction_ratio=1, attention_chananels=24,
                                embedding_patch_sizes=3, embedding_strides=2, num_attention_heads=3)]


def test_custom_stages_fx_exact_and_gradients():
    params = MixTransformerParams(ffn_intermediate_expansion_ratio=2.5, ffn_act_type="relu", drop_path_rate=0.2,
                                  ffn_dropout_prob=0.1, attention_dropout_prob=0.1)
    model = MixTransformer(params, _tiny_stages())
    assert model.feature_info == FeatureInfo.of([16, 24], [4, 8])
    assert model.stages[1].blocks[0].mlp.fc1.out_features == 60
    assert [b.drop_path.p for s in model.stages for b in s.blocks] == pytest.approx([0.0, 0.1, 0.2])
    x = torch.randn(2, 3, 40, 56)  # not square, not a power of two
    traced = torch.fx.symbolic_trace(model.eval())
    with torch.no_grad():
        eager = model(x)
        check_features(eager, model.feature_info, None, 2)
        for a, b in zip(traced(x), eager):
            assert torch.equal(a, b)
    model.train()
    sum(f.sum() for f in model(x)).backward()
    assert all(p.grad is not None for p in model.parameters())


def test_attention_survives_structured_pruning():
    """Narrowing the q/k/v projections (what a pruner does) needs no code change: reshapes use
    the stored head count and -1, never a channel count read at build time."""
    attn = EfficientSelfAttention(dim=32, num_heads=2, sr_ratio=2, attn_drop=0.0, proj_drop=0.0, eps=1e-5).eval()
    keep = torch.arange(0, 32, 2)  # 16 of 32 inner channels, 8 per head
    for name in ("query", "key", "value"):
        old = getattr(attn, name)
        new = nn.Linear(32, 16)
        new.weight.data, new.bias.data = old.weight.data[keep].clone(), old.bias.data[keep].clone()
        setattr(attn, name, new)
    proj = nn.Linear(16, 32)
    proj.weight.data = attn.proj.weight.data[:, keep].clone()
    attn.proj = proj
    x = torch.randn(1, 6, 6, 32)
    with torch.no_grad():
        out = attn(x)
        assert tuple(out.shape) == (1, 6, 6, 32)
        assert torch.equal(torch.fx.symbolic_trace(attn)(x), out)


def test_all_mlp_decoder_after_another_backbone():
    """The head only needs feature maps: here the core's simple_cnn backbone (not MiT)."""
    model = nptrain.create_model({"name": "cnn_seg", "task": "segmentation", "architecture": {
        "backbone": {"name": "simple_cnn"},
        "head": {"name": "all_mlp_decoder", "params": {"intermediate_channels": 48}}}}, num_classes=3).eval()
    first = model.backbone.feature_info.features[0]
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        logits = model.head(model.backbone(x))
        assert tuple(logits.shape) == (1, 3, 64 // first.stride, 64 // first.stride)
        assert torch.equal(torch.fx.symbolic_trace(model)(x), model(x))
    assert model.head.linear_fuse.conv.in_channels == 48 * len(model.backbone.feature_info)


def test_decoder_rejects_pooled_features():
    with pytest.raises(ValueError, match="needs feature maps"):
        AllMLPDecoder(AllMLPDecoderParams(), FeatureInfo.of([16, 32], [4, None]), 2)


def test_decoder_concatenates_deepest_first():
    """Hugging Face order: the fuse conv's first input block belongs to the last feature."""
    head = AllMLPDecoder(AllMLPDecoderParams(intermediate_channels=4, classifier_dropout_prob=0.0),
                         FeatureInfo.of([3, 5], [4, 8]), 2).eval()
    nn.init.zeros_(head.linear_c[0].weight), nn.init.zeros_(head.linear_c[1].weight)
    nn.init.zeros_(head.linear_c[0].bias), nn.init.ones_(head.linear_c[1].bias)
    captured = {}
    head.linear_fuse.conv.register_forward_hook(lambda m, i, o: captured.update(x=i[0]))
    with torch.no_grad(), literal_forward(head):  # the fast form never calls the fuse conv
        head((torch.randn(1, 3, 8, 8), torch.randn(1, 5, 4, 4)))
    assert torch.equal(captured["x"][:, :4], torch.ones(1, 4, 8, 8))
    assert torch.equal(captured["x"][:, 4:], torch.zeros(1, 4, 8, 8))


def test_netspresso_style_config_and_typo_key():
    arch = {"backbone": {"name": "mixtransformer",
                         "params": {"ffn_intermediate_expansion_ratio": 4, "ffn_act_type": "gelu",
                                    "ffn_dropout_prob": 0.0, "attention_dropout_prob": 0.0},
                         "stage_params": [{"num_blocks": 1, "sequence_reduction_ratio": 2, "attention_chananels": 16,
                                           "embedding_patch_sizes": 7, "embedding_strides": 4,
                                           "num_attention_heads": 1}]},
            "head": {"name": "fc"}}
    model = nptrain.create_model({"name": "tiny_mit", "task": "classification", "architecture": arch}, num_classes=4)
    assert model.backbone.feature_info == FeatureInfo.of([16], [4])
    # the correctly spelt key is refused with a hint towards the real (misspelt) one
    from nptrain.errors import ConfigError

    arch["backbone"]["stage_params"][0]["attention_channels"] = arch["backbone"]["stage_params"][0].pop("attention_chananels")
    with pytest.raises(ConfigError, match="did you mean 'attention_chananels'"):
        nptrain.create_model({"name": "tiny_mit", "task": "classification", "architecture": arch}, num_classes=4)
    with pytest.raises(ValueError, match="divisible by num_attention_heads"):
        MixTransformerStage(attention_chananels=30, num_attention_heads=4)


def test_default_params_build_mit_b0_layout():
    model = MixTransformer(MixTransformerParams(), [])
    widths, _ = VARIANTS["b0"]
    assert model.feature_info.channels == widths
    assert [s.blocks[0].token_mixer.num_heads for s in model.stages] == list(HEADS)


def test_entry_module_does_not_import_torch():
    code = ("import sys, np_plugin_segformer.plugin as p; p.nptrain_presets(); p.nptrain_backbones(); "
            "p.nptrain_heads(); p.nptrain_converters(); assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def _b0_head_and_features(seed: int = 0):
    torch.manual_seed(seed)
    info = FeatureInfo.of([32, 64, 160, 256], [4, 8, 16, 32])
    head = AllMLPDecoder(AllMLPDecoderParams(classifier_dropout_prob=0.0), info, 19)
    for p in head.parameters():  # away from the default init, so every term of the sum matters
        nn.init.normal_(p, std=0.2)
    feats = [torch.randn(2, c, 32 // (s // 4), 40 // (s // 4)) for c, s in zip(info.channels, info.strides)]
    return head, feats


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_rearranged_head_matches_literal(mode):
    """The fast head (fuse conv applied per feature before upsampling) gives the literal head's logits,
    and the same gradient for every parameter and input (SegFormer-B0's widths, a non-square map)."""
    head, feats = _b0_head_and_features()
    # float64, so that a tight tolerance tells an algebra mistake from float32's different summation order
    head, feats = head.double(), [f.double() for f in feats]
    head.train(mode == "train")
    results = []
    for literal in (False, True):
        inputs = [f.clone().requires_grad_() for f in feats]
        head.zero_grad()
        with torch.random.fork_rng():
            if literal:
                with literal_forward(head):
                    assert head.rearranged is False
                    out = head(inputs)
            else:
                out = head(inputs)
        (out * torch.linspace(-1, 1, out.numel()).reshape(out.shape)).sum().backward()
        results.append((out.detach(), [p.grad.clone() for p in head.parameters()], [i.grad for i in inputs]))
    assert head.rearranged is True
    (fast, fast_grads, fast_in), (lit, lit_grads, lit_in) = results
    assert fast.shape == (2, 19, 32, 40)
    scale = lit.abs().max()
    assert (fast - lit).abs().max() <= 1e-12 * scale
    for a, b in zip(fast_grads + fast_in, lit_grads + lit_in):
        assert (a - b).abs().max() <= 1e-11 * b.abs().max().clamp_min(1.0)  # train-mode BN zeroes bias grads


def test_rearranged_head_after_pruning_with_unequal_widths():
    """torch-pruning sees the literal form (it follows module calls); afterwards the projections have
    different widths and the fast form must still find each one's fuse columns."""
    from nptrain.compression.prune import prune

    model = nptrain.create_model({"name": "seg", "task": "segmentation", "architecture": {
        "backbone": {"name": "simple_cnn"},
        "head": {"name": "all_mlp_decoder", "params": {"intermediate_channels": 64, "classifier_dropout_prob": 0.0}}}},
        num_classes=3)
    head = model.head
    with torch.no_grad():  # make channel magnitudes differ per projection so pruning keeps unequal counts
        for i, proj in enumerate(head.linear_c):
            proj.weight.mul_(torch.linspace(0.1, 3.0, proj.out_features).pow(i + 1).unsqueeze(1))
    x = torch.randn(2, 3, 64, 64)
    report = prune(model, x, ratio=0.5, round_to=None)
    widths = [p.out_features for p in head.linear_c]
    assert report.params_after < report.params_before and sum(widths) == head.linear_fuse.conv.in_channels
    model.eval()
    with torch.no_grad():
        fast = model(x)
        with literal_forward(model):
            lit = model(x)
        traced = torch.fx.symbolic_trace(model)(x)
    assert (fast - lit).abs().max() <= 1e-5 * lit.abs().max()
    assert torch.equal(traced, fast)
