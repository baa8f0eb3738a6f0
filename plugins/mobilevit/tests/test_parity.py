"""ml-cvnets MobileViT-S weights, converted, reproduce the original outputs (fixture: ../shared/parity/mobilevit_s)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import torch.fx

import nptrain
from nptrain.errors import ConversionError
from nptrain.testing.converters import assert_file_forms_agree, assert_head_drops
from nptrain.testing.parity import assert_parity, load_input, make_state_dict, read_keys, source_info

from np_plugin_mobilevit.convert import from_mlcvnets, target_key
from np_plugin_mobilevit.presets import PARAMS

FIXTURE = Path(__file__).parent / "fixtures" / "mobilevit_s"


@pytest.fixture(scope="module")
def source() -> dict:
    return make_state_dict(FIXTURE)


@pytest.fixture(scope="module")
def converted(source) -> dict:
    return from_mlcvnets(source, preset="mobilevit_s")


def to_mlcvnets(ours: dict) -> dict:
    """Our task-model keys back to ml-cvnets names (test helper: builds xs/xxs sources without a fixture)."""
    out = {}
    for key, value in ours.items():
        k = key.replace("head.classifier.", "classifier.fc.")
        k = re.sub(r"^backbone\.stem\.", "conv_1.block.", k)
        k = re.sub(r"^backbone\.exp_conv\.", "conv_1x1_exp.block.", k)
        k = re.sub(r"^backbone\.stages\.(\d+)\.", lambda m: f"layer_{int(m[1]) + 1}.", k)
        for ours_part, theirs in (("expand", "block.exp_1x1.block"), ("dwconv", "block.conv_3x3.block"),
                                  ("project", "block.red_1x1.block"), ("local_conv", "local_rep.conv_3x3.block"),
                                  ("local_proj", "local_rep.conv_1x1.block.conv"), ("proj", "conv_proj.block"),
                                  ("fusion", "fusion.block")):
            k = re.sub(rf"^(layer_\d+\.\d+)\.{ours_part}\.", rf"\1.{theirs}.", k)
        for ours_part, theirs in (("norm1", "pre_norm_mha.0"), ("token_mixer.qkv", "pre_norm_mha.1.qkv_proj"),
                                  ("token_mixer.proj", "pre_norm_mha.1.out_proj"), ("norm2", "pre_norm_ffn.0"),
                                  ("mlp.fc1", "pre_norm_ffn.1"), ("mlp.fc2", "pre_norm_ffn.4")):
            k = re.sub(rf"\.transformer\.(\d+)\.{re.escape(ours_part)}\.", rf".global_rep.\1.{theirs}.", k)
        out[k] = value
    # the block's final LayerNorm sits after the encoders in ml-cvnets' global_rep, at index = encoder count
    encoders: dict[str, int] = {}
    for k in out:
        if m := re.match(r"^(layer_\d+\.\d+)\.global_rep\.(\d+)\.", k):
            encoders[m[1]] = max(encoders.get(m[1], 0), int(m[2]) + 1)
    return {re.sub(r"^(layer_\d+\.\d+)\.norm\.", lambda m: f"{m[1]}.global_rep.{encoders[m[1]]}.", k): v
            for k, v in out.items()}


def test_param_count_equals_mlcvnets():
    model = nptrain.create_model("mobilevit_s", num_classes=1000)
    count = sum(p.numel() for p in model.parameters())
    assert count == PARAMS["mobilevit_s"] == source_info(FIXTURE)["params"] == 5_578_632
    # one of our entries per ml-cvnets entry, BatchNorm buffers included
    assert len(model.state_dict()) == source_info(FIXTURE)["state_dict_entries"] == len(read_keys(FIXTURE)) == 311


def test_parity_with_mlcvnets(converted):
    torch.set_flush_denormal(True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = nptrain.create_model("mobilevit_s", num_classes=1000).eval()
        model.load_state_dict(converted, strict=True)
        x = load_input(FIXTURE)
        with torch.no_grad():
            features = model.backbone(x)
            logits = model.head(features)
            assert torch.equal(model(x), logits)
            assert torch.equal(torch.fx.symbolic_trace(model)(x), logits)  # exact at the fixture's 256 too
    finally:
        torch.set_num_threads(threads)
    assert x.dtype == logits.dtype == torch.float32
    assert tuple(features[-1].shape) == (1, 640, 8, 8) and tuple(logits.shape) == (1, 1000)
    report = assert_parity({"logits": logits, "features": features[-1]}, FIXTURE)
    assert max(report.values()) < 0.5  # measured 0.063 / 0.028: well inside the tolerance, not at its edge


def test_query_key_value_rows_keep_their_order(converted, source):
    # the fused projection is copied as is: rows [0:192] query, [192:384] key, [384:576] value
    w = source["layer_4.1.global_rep.3.pre_norm_mha.1.qkv_proj.weight"]
    assert converted["backbone.stages.3.1.transformer.3.token_mixer.qkv.weight"] is w
    # the LayerNorm after the last encoder (index = encoder count) is the block's final norm
    assert converted["backbone.stages.4.1.norm.bias"] is source["layer_5.1.global_rep.3.bias"]


def test_mapping_is_one_to_one(source):
    targets = [target_key(k) for k in source]
    assert None not in targets and len(set(targets)) == len(targets)
    assert to_mlcvnets(dict(zip(targets, source.values()))).keys() == source.keys()


@pytest.mark.parametrize("preset", ["mobilevit_xs", "mobilevit_xxs"])
def test_smaller_presets_convert(preset):
    # no fixture for xs/xxs: an ml-cvnets-layout state dict is made from a model by the inverse renaming
    model = nptrain.create_model(preset, num_classes=1000)
    ours = model.state_dict()
    assert sum(p.numel() for p in model.parameters()) == PARAMS[preset]
    out = from_mlcvnets(to_mlcvnets(ours), preset=preset)
    assert out.keys() == ours.keys() and all(out[k] is ours[k] for k in ours)
    # same key set, other widths: the shape check names the preset that was asked for
    other = {"mobilevit_xs": "mobilevit_s", "mobilevit_xxs": "mobilevit_xs"}[preset]
    with pytest.raises(ConversionError, match=f"shape mismatch.*is the checkpoint a {other}"):
        from_mlcvnets(to_mlcvnets(ours), preset=other)


def test_file_forms_agree(source, tmp_path):
    assert_file_forms_agree(source, source_name="mlcvnets", preset="mobilevit_s", tmp_path=tmp_path)

def test_unknown_and_missing_keys_fail_loudly(source):
    with pytest.raises(ConversionError, match="1 unmapped source key.*seg_head.aspp.weight"):
        from_mlcvnets({**source, "seg_head.aspp.weight": torch.zeros(1)}, preset="mobilevit_s")
    # a bias on the bias-free 1x1 conv and a dropout "layer" of an encoder have no counterpart
    with pytest.raises(ConversionError, match="unmapped source key.*local_rep.conv_1x1.block.conv.bias"):
        from_mlcvnets({**source, "layer_3.1.local_rep.conv_1x1.block.conv.bias": torch.zeros(144)},
                      preset="mobilevit_s")
    with pytest.raises(ConversionError, match="unmapped source key.*global_rep.0.pre_norm_ffn.3.weight"):
        from_mlcvnets({**source, "layer_3.1.global_rep.0.pre_norm_ffn.3.weight": torch.zeros(1)}, preset="mobilevit_s")
    partial = {k: v for k, v in source.items() if not k.startswith("layer_5.1.global_rep.2.pre_norm_mha.1.out_proj")}
    with pytest.raises(ConversionError,
                       match="2 target key.*unfilled.*backbone.stages.4.1.transformer.2.token_mixer.proj.bias"):
        from_mlcvnets(partial, preset="mobilevit_s")
    no_fusion = {k: v for k, v in source.items() if ".fusion." not in k}
    with pytest.raises(ConversionError, match="18 target key.*unfilled.*fusion"):
        from_mlcvnets(no_fusion, preset="mobilevit_s")
    # a 5th encoder in layer_4 (a different model) has no place in mobilevit_s
    deeper = {**source, "layer_4.1.global_rep.5.pre_norm_mha.0.weight": torch.ones(192)}
    with pytest.raises(ConversionError,
                       match="unexpected.*transformer.5.norm1.weight.*is the checkpoint a mobilevit_s"):
        from_mlcvnets(deeper, preset="mobilevit_s")


def test_wrong_shapes_fail_loudly(source):
    wider = dict(source, **{"conv_1x1_exp.block.norm.weight": torch.ones(960)})
    with pytest.raises(ConversionError, match=r"1 shape mismatch.*backbone.exp_conv.norm.weight \(960,\) != \(640,\)"):
        from_mlcvnets(wider, preset="mobilevit_s")


def test_drop_head(source):
    converted = assert_head_drops(source, source_name="mlcvnets", preset="mobilevit_s",
                                  source_head_prefixes=("classifier.",))
    assert len(converted) == len(source) - 2


def test_other_class_count_follows_the_checkpoint(source):
    ten = dict(source, **{"classifier.fc.weight": torch.zeros(10, 640), "classifier.fc.bias": torch.zeros(10)})
    model = nptrain.create_model("mobilevit_s", num_classes=10)
    model.load_state_dict(from_mlcvnets(ten, preset="mobilevit_s"), strict=True)
