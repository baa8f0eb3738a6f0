"""Hugging Face Segformer weights, converted, reproduce the original outputs.

Fixtures (copied from ../shared/parity): ``mit_b0`` (SegformerForImageClassification, nvidia/mit-b0)
and ``segformer_b0_ade`` (SegformerForSemanticSegmentation, nvidia/segformer-b0-finetuned-ade-512-512).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import nptrain
from nptrain.errors import ConversionError
from nptrain.testing.parity import assert_parity, load_input, make_state_dict, source_info

from np_plugin_segformer.convert import check_hf_config, from_hf

FIXTURES = Path(__file__).parent / "fixtures"
MIT_B0 = FIXTURES / "mit_b0"
ADE = FIXTURES / "segformer_b0_ade"


@pytest.fixture(scope="module")
def mit_source() -> dict:
    return make_state_dict(MIT_B0)


@pytest.fixture(scope="module")
def ade_source() -> dict:
    return make_state_dict(ADE)


@pytest.fixture(autouse=True)
def _exact_cpu_math():
    threads = torch.get_num_threads()
    torch.set_flush_denormal(True)
    torch.set_num_threads(1)  # the fixture's run conditions
    yield
    torch.set_num_threads(threads)


def test_parity_mit_b0(mit_source):
    model = nptrain.create_model("mit_b0", num_classes=1000).eval()
    model.load_state_dict(from_hf(mit_source, preset="mit_b0"), strict=True)
    with torch.no_grad():
        features = model.backbone(load_input(MIT_B0))
        logits = model.head(features)
    ours = {f"stage{i + 1}": f for i, f in enumerate(features)} | {"logits": logits}
    report = assert_parity(ours, MIT_B0)
    assert max(report.values()) < 0.5, report  # well inside the tolerance, not at its edge


def test_parity_segformer_b0_ade(ade_source):
    model = nptrain.create_model("segformer_b0", num_classes=150).eval()
    model.load_state_dict(from_hf(ade_source, preset="segformer_b0"), strict=True)
    x = load_input(ADE)
    with torch.no_grad():
        logits = model.head(model.backbone(x))  # before the task model's upsampling
        full = model(x)
    report = assert_parity({"logits": logits}, ADE)
    assert max(report.values()) < 0.5, report
    assert tuple(full.shape) == (1, 150, 128, 128)


def test_fixture_param_counts_are_the_presets():
    assert sum(p.numel() for p in nptrain.create_model("mit_b0", num_classes=1000).parameters()) \
        == source_info(MIT_B0)["params"] == 3_576_392
    assert sum(p.numel() for p in nptrain.create_model("segformer_b0", num_classes=150).parameters()) \
        == source_info(ADE)["params"] == 3_752_694


def _hub_folder(tmp_path: Path, state: dict, config: dict) -> Path:
    folder = tmp_path / "hub"
    folder.mkdir()
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_hub_folder_and_cli(ade_source, tmp_path):
    from nptrain.cli.main import main
    from nptrain.convert import convert_checkpoint

    args = source_info(ADE)["constructor_args"]
    folder = _hub_folder(tmp_path, ade_source, args)
    assert check_hf_config(folder, "segformer_b0")["num_labels"] == 150
    with pytest.raises(ConversionError, match="does not describe mit_b1"):
        check_hf_config(folder, "mit_b1")
    converted = convert_checkpoint(folder, source="hf", preset="segformer_b0")
    model = nptrain.create_model("segformer_b0", num_classes=150)
    model.load_state_dict(converted, strict=True)
    out = tmp_path / "ours.safetensors"
    assert main(["convert", str(folder), "--model", "segformer_b0", "--from", "hf", "-o", str(out)]) == 0
    again = nptrain.create_model("segformer_b0", num_classes=150, checkpoint=str(out))
    for key, value in again.state_dict().items():
        assert torch.equal(value, converted[key]), key


def test_bare_encoder_keys_and_missing_bn_counter(ade_source):
    # SegformerModel files have no "segformer." prefix; old files may lack num_batches_tracked
    bare = {k.removeprefix("segformer."): v for k, v in ade_source.items() if not k.endswith("num_batches_tracked")}
    converted = from_hf(bare, preset="segformer_b0")
    assert converted["head.linear_fuse.norm.num_batches_tracked"].item() == 0
    nptrain.create_model("segformer_b0", num_classes=150).load_state_dict(converted, strict=True)


def test_unknown_missing_and_mismatched_keys_fail_loudly(mit_source, ade_source):
    with pytest.raises(ConversionError, match=r"1 unmapped source key.*segformer\.encoder\.extra\.weight"):
        from_hf({**mit_source, "segformer.encoder.extra.weight": torch.zeros(1)}, preset="mit_b0")
    partial = {k: v for k, v in mit_source.items() if "block.3.1.mlp.dense2" not in k}
    with pytest.raises(ConversionError, match=r"2 target key.*unfilled.*backbone\.stages\.3\.blocks\.1\.mlp\.fc2\.bias"):
        from_hf(partial, preset="mit_b0")
    with pytest.raises(ConversionError, match="shape mismatch.*is the checkpoint a mit_b1"):
        from_hf(mit_source, preset="mit_b1")
    with pytest.raises(ConversionError, match=r"14 target key\(s\) unfilled \(head\.linear_c.*is the checkpoint a segformer_b0"):
        from_hf(mit_source, preset="segformer_b0")  # a classification file has no decode head
    with pytest.raises(ConversionError, match="unfilled"):
        from_hf(ade_source, preset="mit_b2")


def test_keep_head_false_drops_the_head(mit_source, ade_source):
    converted = from_hf(mit_source, preset="mit_b0", keep_head=False)
    assert not any(k.startswith("head.") for k in converted)
    model = nptrain.create_model("mit_b0", num_classes=10)
    missing, unexpected = model.load_state_dict(converted, strict=False)
    assert sorted(missing) == ["head.classifier.bias", "head.classifier.weight"] and not unexpected
    # encoder-only transfer both ways: ImageNet mit-b0 starts a segformer_b0 and vice versa
    seg_model = nptrain.create_model("segformer_b0", num_classes=19)
    missing, unexpected = seg_model.load_state_dict(from_hf(mit_source, preset="segformer_b0", keep_head=False),
                                                    strict=False)
    assert not unexpected and missing and all(k.startswith("head.") for k in missing)
    assert set(from_hf(ade_source, preset="mit_b0", keep_head=False)) == set(converted)
