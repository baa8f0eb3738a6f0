"""snap-research EfficientFormer weights, converted, reproduce the original outputs (fixture: efficientformer_l1),
and the converter refuses anything it cannot place."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.fx
from safetensors.torch import load_file

import nptrain
from nptrain.errors import ConversionError
from nptrain.testing.converters import assert_file_forms_agree
from nptrain.testing.parity import assert_parity, load_input, make_state_dict, read_keys, source_info

from np_plugin_efficientformer.convert import bias_index, from_snap, from_snap_nodist
from np_plugin_efficientformer.presets import LAYOUTS, PARAMS

FIXTURE = Path(__file__).parent / "fixtures" / "efficientformer_l1"
IDX = "network.6.4.token_mixer.attention_bias_idxs"


def snap_layout(depths, dims, vit_num, num_classes=1000, mlp_ratio=4, heads=8, key_dim=32, attn_ratio=4,
                resolution=7) -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape) of snap's ``EfficientFormer(...).state_dict()``, written from the original's layout rules
    (stem, ``meta_blocks`` with ``Flat``, ``Embedding``, ``Meta4D``/``Meta3D``/``Attention``), independent of our model."""
    out: list[tuple[str, tuple[int, ...]]] = []

    def conv(p, o, i, k):
        out.extend([(f"{p}.weight", (o, i, k, k)), (f"{p}.bias", (o,))])

    def bn(p, c):
        out.extend([(f"{p}.{leaf}", (c,)) for leaf in ("weight", "bias", "running_mean", "running_var")])
        out.append((f"{p}.num_batches_tracked", ()))

    conv("patch_embed.0", dims[0] // 2, 3, 3)
    bn("patch_embed.1", dims[0] // 2)
    conv("patch_embed.3", dims[0], dims[0] // 2, 3)
    bn("patch_embed.4", dims[0])
    net = 0
    for i, (depth, d) in enumerate(zip(depths, dims)):
        h = d * mlp_ratio
        flat = depth - vit_num if i == 3 else None  # the Flat module takes one index in the stage
        for b in range(depth):
            j = b + 1 if flat is not None and b >= flat else b
            p = f"network.{net}.{j}"
            out.extend([(f"{p}.layer_scale_1", (d,)), (f"{p}.layer_scale_2", (d,))])
            if i == 3 and depth - b <= vit_num:
                dh, qkv = heads * key_dim * attn_ratio, heads * key_dim * (2 + attn_ratio)
                out.extend([(f"{p}.norm1.weight", (d,)), (f"{p}.norm1.bias", (d,)),
                            (f"{p}.token_mixer.attention_biases", (heads, resolution ** 2)),
                            (f"{p}.token_mixer.attention_bias_idxs", (resolution ** 2, resolution ** 2)),
                            (f"{p}.token_mixer.qkv.weight", (qkv, d)), (f"{p}.token_mixer.qkv.bias", (qkv,)),
                            (f"{p}.token_mixer.proj.weight", (d, dh)), (f"{p}.token_mixer.proj.bias", (d,)),
                            (f"{p}.norm2.weight", (d,)), (f"{p}.norm2.bias", (d,)),
                            (f"{p}.mlp.fc1.weight", (h, d)), (f"{p}.mlp.fc1.bias", (h,)),
                            (f"{p}.mlp.fc2.weight", (d, h)), (f"{p}.mlp.fc2.bias", (d,))])
            else:
                conv(f"{p}.mlp.fc1", h, d, 1)
                conv(f"{p}.mlp.fc2", d, h, 1)
                bn(f"{p}.mlp.norm1", h)
                bn(f"{p}.mlp.norm2", d)
        net += 1
        if i < 3:
            conv(f"network.{net}.proj", dims[i + 1], d, 3)
            bn(f"network.{net}.norm", dims[i + 1])
            net += 1
    out.extend([("norm.weight", (dims[-1],)), ("norm.bias", (dims[-1],))])
    for head in ("head", "dist_head"):
        out.extend([(f"{head}.weight", (num_classes, dims[-1])), (f"{head}.bias", (num_classes,))])
    return out


def snap_param_count(layout) -> int:
    buffers = ("running_mean", "running_var", "num_batches_tracked", "attention_bias_idxs")
    return sum(torch.Size(s).numel() for n, s in layout if not n.endswith(buffers))


@pytest.fixture(scope="module")
def source() -> dict:
    return make_state_dict(FIXTURE)


@pytest.fixture(scope="module")
def converted(source) -> dict:
    return from_snap(source, preset="efficientformer_l1")


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_layout_rules_reproduce_the_fixture_keys():
    # validates snap_layout itself against the real l1 state dict before it is trusted for l3 / l7
    rows = [(n, s) for n, _, s in read_keys(FIXTURE)]
    assert snap_layout(*LAYOUTS["efficientformer_l1"]) == rows


@pytest.mark.parametrize("preset", list(LAYOUTS))
def test_param_counts_equal_snap(preset):
    with torch.device("meta"):
        model = nptrain.create_model(preset, num_classes=1000)
    layout = snap_layout(*LAYOUTS[preset])
    assert _count(model) == snap_param_count(layout) == PARAMS[preset]
    # every snap entry has a counterpart except the derived (unsaved) attention_bias_idxs
    n_idx = sum(n.endswith("attention_bias_idxs") for n, _ in layout)
    assert len(model.state_dict()) == len(layout) - n_idx
    if preset == "efficientformer_l1":
        assert PARAMS[preset] == source_info(FIXTURE)["params"] == 12_289_928
    # the paper lists 12.3M / 31.3M / 82.1M; counting snap's code (as snap_layout does, dist_head included) gives
    # 12.29M / 31.41M / 82.23M: l1 agrees, l3 / l7 differ in the last digit from the paper's table, not from the code
    assert round(PARAMS[preset] / 1e6, 1) == {"efficientformer_l1": 12.3, "efficientformer_l3": 31.4,
                                              "efficientformer_l7": 82.2}[preset]


def test_parity_with_snap(converted):
    torch.set_flush_denormal(True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = nptrain.create_model("efficientformer_l1", num_classes=1000).eval()
        model.load_state_dict(converted, strict=True)
        x = load_input(FIXTURE)
        with torch.no_grad():
            features = model.backbone(x)
            logits = model(x)
            model.head.train()  # no dropout in the head: training mode only exposes both classifiers
            both = model.head(features)
            model.head.eval()
            traced = torch.fx.symbolic_trace(model)
            assert torch.equal(traced(x), logits)  # exact at the fixture's 224
    finally:
        torch.set_num_threads(threads)
    assert x.dtype == logits.dtype == torch.float32
    assert torch.equal(logits, (both["logits_head"] + both["logits_dist"]) / 2) and torch.equal(both["pred"], logits)
    # the backbone's last map is norm(tokens) reshaped: flattening it back gives the original (B, 49, C) tokens
    assert len(features) == 1 and features[0].shape == (1, 448, 7, 7)
    tokens = features[0].flatten(2).transpose(1, 2)
    report = assert_parity({"logits_head": both["logits_head"], "logits_dist": both["logits_dist"],
                            "features": tokens}, FIXTURE)
    assert max(report.values()) < 0.5  # measured about 0.01: well inside the tolerance


def test_bias_index_rule_equals_snap_buffer(converted):
    snap = load_file(str(FIXTURE / "int_buffers.safetensors"))[IDX]
    assert torch.equal(bias_index(7), snap)
    model = nptrain.create_model("efficientformer_l1", num_classes=1000)
    attention = model.backbone.stages[3].blocks[4].token_mixer
    assert torch.equal(attention.bias_index(7, 7), snap)
    assert not any("idx" in k or "offsets" in k for k in converted)  # derived, not saved


def test_tensors_are_copied_as_they_are(converted, source):
    # fused qkv rows stay in snap's per-head [q 32 | k 32 | v 128] order; layer scales become ls.gamma
    assert converted["backbone.stages.3.blocks.4.token_mixer.qkv.weight"] is source["network.6.4.token_mixer.qkv.weight"]
    assert converted["backbone.stages.1.blocks.1.ls2.gamma"] is source["network.2.1.layer_scale_2"]
    assert converted["backbone.stages.2.downsample.conv.weight"] is source["network.3.proj.weight"]
    assert converted["backbone.stem.1.norm.running_var"] is source["patch_embed.4.running_var"]
    assert converted["head.dist_classifier.weight"] is source["dist_head.weight"]


def test_file_forms_agree(source, tmp_path):
    assert_file_forms_agree(source, source_name="snap", preset="efficientformer_l1", tmp_path=tmp_path,
                            wrap=lambda sd: {"model": dict(sd), "epoch": 299},  # snap's main.py layout
                            file_name="efficientformer_l1_1000d.pth")

def test_unknown_and_missing_keys_fail_loudly(source):
    with pytest.raises(ConversionError, match="1 unmapped source key.*network.6.4.token_mixer.talking_head.weight"):
        from_snap({**source, "network.6.4.token_mixer.talking_head.weight": torch.zeros(1)}, preset="efficientformer_l1")
    with pytest.raises(ConversionError, match="unmapped source key.*network.7.proj.weight"):  # no 8th network entry
        from_snap({**source, "network.7.proj.weight": torch.zeros(1)}, preset="efficientformer_l1")
    with pytest.raises(ConversionError, match="unmapped source key.*patch_embed.2.weight"):  # the stem ReLU has none
        from_snap({**source, "patch_embed.2.weight": torch.zeros(1)}, preset="efficientformer_l1")
    partial = {k: v for k, v in source.items() if not k.startswith("network.6.4.token_mixer.proj")}
    with pytest.raises(ConversionError, match="2 target key.*unfilled.*backbone.stages.3.blocks.4.token_mixer.proj.bias"):
        from_snap(partial, preset="efficientformer_l1")
    no_dist = {k: v for k, v in source.items() if not k.startswith("dist_head.")}
    with pytest.raises(ConversionError, match="unfilled.*head.dist_classifier.bias"):
        from_snap(no_dist, preset="efficientformer_l1")
    # a fifth block in the last stage (an l3-like checkpoint) has no counterpart in l1
    deeper = {**source, "network.6.5.norm1.weight": torch.ones(448)}
    with pytest.raises(ConversionError, match="unexpected.*backbone.stages.3.blocks.5.norm1.weight.*efficientformer_l1"):
        from_snap(deeper, preset="efficientformer_l1")
    with pytest.raises(ConversionError, match="unknown preset"):
        from_snap(source, preset="efficientformer_l9")


def test_wrong_shapes_and_bias_index_fail_loudly(source):
    wider = dict(source, **{"norm.weight": torch.ones(512)})
    with pytest.raises(ConversionError, match=r"1 shape mismatch.*backbone.norm.weight \(512,\) != \(448,\)"):
        from_snap(wider, preset="efficientformer_l1")
    shuffled = dict(source, **{IDX: source[IDX].flip(0)})
    with pytest.raises(ConversionError, match="attention_bias_idxs differ"):
        from_snap(shuffled, preset="efficientformer_l1")


def test_missing_batchnorm_counters_count_from_zero(source):
    old = {k: v for k, v in source.items() if not k.endswith("num_batches_tracked")}
    out = from_snap(old, preset="efficientformer_l1")
    assert out["backbone.stages.0.blocks.0.mlp.norm1.num_batches_tracked"].item() == 0
    nptrain.create_model("efficientformer_l1", num_classes=1000).load_state_dict(out, strict=True)


def test_drop_head_and_drop_dist(source):
    headless = from_snap(source, preset="efficientformer_l1", keep_head=False)
    assert not any(k.startswith("head.") for k in headless)
    model = nptrain.create_model("efficientformer_l1", num_classes=7)
    missing, unexpected = model.load_state_dict(headless, strict=False)
    assert sorted(missing) == ["head.classifier.bias", "head.classifier.weight",
                               "head.dist_classifier.bias", "head.dist_classifier.weight"] and not unexpected
    # keep_dist=False (converter source snap_nodist) fits a model whose head has distillation: false
    single = from_snap_nodist(source, preset="efficientformer_l1")
    assert "head.classifier.weight" in single and not any("dist" in k for k in single)
    spec = {"name": "efficientformer_l1", "task": "classification",
            "architecture": {"head": {"params": {"distillation": False}}}}
    plain = nptrain.create_model(spec, num_classes=1000).eval()
    plain.load_state_dict(single, strict=True)
    with torch.no_grad():
        x = torch.randn(1, 3, 64, 64)
        assert torch.equal(plain(x), plain.head.classifier(plain.backbone(x)[0].flatten(2).mean(-1)))
    assert set(from_snap(source, preset="efficientformer_l1", keep_head=False, keep_dist=False)) == set(headless)


def test_other_class_count_follows_the_checkpoint(source):
    ten = dict(source, **{k: torch.zeros((10,) + tuple(source[k].shape[1:]))
                          for k in ("head.weight", "head.bias", "dist_head.weight", "dist_head.bias")})
    nptrain.create_model("efficientformer_l1", num_classes=10).load_state_dict(
        from_snap(ten, preset="efficientformer_l1"), strict=True)


@pytest.mark.parametrize("preset", ["efficientformer_l3", "efficientformer_l7"])
def test_l3_l7_layouts_convert(preset):
    # snap-layout state dicts built from the original's rules (meta tensors: shapes only, nothing allocated)
    layout = snap_layout(*LAYOUTS[preset])
    sd = {n: bias_index(7) if n.endswith("idxs") else torch.empty(s, device="meta") for n, s in layout}
    out = from_snap(sd, preset=preset)
    with torch.device("meta"):
        target = nptrain.create_model(preset, num_classes=1000).state_dict()
    assert set(out) == set(target)
    assert all(tuple(out[k].shape) == tuple(target[k].shape) for k in out)


@pytest.mark.parametrize("depths,dims,vit_num,heads,key_dim,attn_ratio,mlp_ratio", [
    ((1, 1, 2, 3), (16, 24, 32, 48), 0, 8, 32, 4, 4),  # no attention block: Flat after the last Meta4D block
    ((1, 1, 2, 3), (16, 24, 32, 48), 3, 2, 8, 2, 3),  # the whole last stage is attention: Flat first
    ((2, 1, 1, 2), (8, 16, 24, 40), 1, 4, 16, 4, 2),
])
def test_param_count_of_variants_equals_snap(depths, dims, vit_num, heads, key_dim, attn_ratio, mlp_ratio):
    arch = {"backbone": {"name": "efficientformer",
                         "params": {"vit_num": vit_num, "num_attention_heads": heads, "attention_channels": heads * key_dim,
                                    "attention_value_expansion_ratio": attn_ratio, "ffn_intermediate_ratio": mlp_ratio},
                         "stage_params": [{"num_blocks": n, "channels": c} for n, c in zip(depths, dims)]},
            "head": {"name": "efficientformer_head"}}
    with torch.device("meta"):
        model = nptrain.create_model({"task": "classification", "architecture": arch}, num_classes=10)
    layout = snap_layout(depths, dims, vit_num, num_classes=10, mlp_ratio=mlp_ratio, heads=heads, key_dim=key_dim,
                         attn_ratio=attn_ratio)
    assert _count(model) == snap_param_count(layout)
    # and the converter places every entry of such a layout (block indices shifted by Flat included)
    ours = set(model.state_dict())
    from np_plugin_efficientformer.convert import _network_index, target_key

    network = _network_index([True] * 4, dims)
    mapped = {target_key(n, network) for n, _ in layout} - {""}
    assert mapped == ours


def test_convert_cli_without_distillation_head(source, tmp_path):
    from safetensors.torch import save_file

    from nptrain.cli.main import main

    src = tmp_path / "orig.safetensors"
    save_file({k: v.contiguous() for k, v in source.items()}, str(src))
    out = tmp_path / "single.safetensors"
    # the CLI's own check loads into the preset as it is (with its dist head), so it is skipped; the converter
    # has already checked every key and shape against the distillation: false model
    assert main(["convert", str(src), "--model", "efficientformer_l1", "--from", "snap_nodist", "-o", str(out),
                 "--no-verify"]) == 0
    spec = {"name": "efficientformer_l1", "task": "classification",
            "architecture": {"head": {"params": {"distillation": False}}}}
    model = nptrain.create_model(spec, num_classes=1000, checkpoint=str(out))
    assert not hasattr(model.head, "dist_classifier")
    assert torch.equal(model.head.classifier.weight, source["head.weight"])
    direct = nptrain.create_model(spec, num_classes=1000, checkpoint=f"snap_nodist:{src}")
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in direct.state_dict().items())
