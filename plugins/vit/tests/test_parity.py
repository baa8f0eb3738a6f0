"""ml-cvnets ViT-Tiny weights, converted, reproduce the original outputs (fixture: ../shared/parity/vit_tiny)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.fx

import nptrain
from nptrain.errors import ConversionError
from nptrain.testing.converters import assert_file_forms_agree, assert_head_drops
from nptrain.testing.parity import assert_parity, load_input, make_state_dict, read_keys, source_info

from np_plugin_vit.convert import from_mlcvnets
from np_plugin_vit.presets import PARAMS

FIXTURE = Path(__file__).parent / "fixtures" / "vit_tiny"


@pytest.fixture(scope="module")
def source() -> dict:
    return make_state_dict(FIXTURE)


@pytest.fixture(scope="module")
def converted(source) -> dict:
    return from_mlcvnets(source, preset="vit_tiny")


def test_param_count_equals_mlcvnets():
    model = nptrain.create_model("vit_tiny", num_classes=1000)
    count = sum(p.numel() for p in model.parameters())
    assert count == PARAMS["vit_tiny"] == source_info(FIXTURE)["params"] == 5_618_344
    # one of our entries per ml-cvnets entry (parameters plus the two stem BatchNorms' buffers)
    assert len(model.state_dict()) == source_info(FIXTURE)["state_dict_entries"] == len(read_keys(FIXTURE))


def test_parity_with_mlcvnets(converted):
    torch.set_flush_denormal(True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = nptrain.create_model("vit_tiny", num_classes=1000).eval()
        model.load_state_dict(converted, strict=True)
        x = load_input(FIXTURE)
        with torch.no_grad():
            features = model.backbone(x)
            logits = model.head(features)
            assert torch.equal(model(x), logits)
            assert torch.equal(torch.fx.symbolic_trace(model)(x), logits)  # exact at the fixture's 224 too
    finally:
        torch.set_num_threads(threads)
    assert x.dtype == logits.dtype == torch.float32
    report = assert_parity({"logits": logits, "features": features[-1]}, FIXTURE)
    assert max(report.values()) < 0.5  # measured about 0.04: well inside the tolerance, not at its edge


def test_query_key_value_rows_keep_their_order(converted, source):
    # the fused projection is copied as is: rows [0:192] query, [192:384] key, [384:576] value
    w = source["transformer.3.pre_norm_mha.1.qkv_proj.weight"]
    assert converted["backbone.blocks.3.token_mixer.qkv.weight"] is w
    assert converted["backbone.pos_embed"].shape == (1, 1, 196, 192)


def test_file_forms_agree(source, tmp_path):
    assert_file_forms_agree(source, source_name="mlcvnets", preset="vit_tiny", tmp_path=tmp_path,
                            wrap=lambda sd: {"model": {f"module.{k}": v for k, v in sd.items()}})

def test_unknown_and_missing_keys_fail_loudly(source):
    with pytest.raises(ConversionError, match="1 unmapped source key.*simple_fpn.out_l3.weight"):
        from_mlcvnets({**source, "simple_fpn.out_l3.weight": torch.zeros(1)}, preset="vit_tiny")
    with pytest.raises(ConversionError, match="unmapped source key.*transformer.0.pre_norm_ffn.2.weight"):
        from_mlcvnets({**source, "transformer.0.pre_norm_ffn.2.weight": torch.zeros(1)}, preset="vit_tiny")
    partial = {k: v for k, v in source.items() if not k.startswith("transformer.11.pre_norm_mha.1.out_proj")}
    with pytest.raises(ConversionError, match="2 target key.*unfilled.*backbone.blocks.11.token_mixer.proj.bias"):
        from_mlcvnets(partial, preset="vit_tiny")
    no_cls = {k: v for k, v in source.items() if k != "cls_token"}
    with pytest.raises(ConversionError, match="unfilled.*backbone.cls_token"):
        from_mlcvnets(no_cls, preset="vit_tiny")
    # a 13th block (e.g. a deeper ViT) has no counterpart in vit_tiny
    deeper = {**source, "transformer.12.pre_norm_mha.0.weight": torch.ones(192)}
    with pytest.raises(ConversionError, match="unexpected.*backbone.blocks.12.norm1.weight.*is the checkpoint a vit_tiny"):
        from_mlcvnets(deeper, preset="vit_tiny")


def test_wrong_shapes_fail_loudly(source):
    wider = dict(source, **{"post_transformer_norm.weight": torch.ones(384)})
    with pytest.raises(ConversionError, match=r"1 shape mismatch.*backbone.norm.weight \(384,\) != \(192,\)"):
        from_mlcvnets(wider, preset="vit_tiny")


def test_drop_head(source):
    converted = assert_head_drops(source, source_name="mlcvnets", preset="vit_tiny", source_head_prefixes=("classifier.",))
    assert len(converted) == len(source) - 2


def test_other_class_count_follows_the_checkpoint(source):
    ten = dict(source, **{"classifier.weight": torch.zeros(10, 192), "classifier.bias": torch.zeros(10)})
    model = nptrain.create_model("vit_tiny", num_classes=10)
    model.load_state_dict(from_mlcvnets(ten, preset="vit_tiny"), strict=True)
