"""XuJiacong PIDNet weights, converted, reproduce the original outputs (fixture ``pidnet_s``).

The fixture state dict is regenerated from the formula and wrapped the way published Cityscapes
checkpoints are (``{"state_dict": {"model.<key>": ...}}``), so unwrapping is exercised too.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import nptrain
from nptrain.errors import ConversionError
from nptrain.testing.converters import assert_file_forms_agree
from nptrain.testing.parity import assert_parity, load_input, make_state_dict, source_info

from np_plugin_pidnet.convert import from_pidnet, from_pidnet_imagenet, missing_head_keys

FIXTURE = Path(__file__).parent / "fixtures" / "pidnet_s"


@pytest.fixture(scope="module")
def source() -> dict:
    return make_state_dict(FIXTURE)


@pytest.fixture(autouse=True)
def _exact_cpu_math():
    threads = torch.get_num_threads()
    torch.set_flush_denormal(True)
    torch.set_num_threads(1)  # the fixture's run conditions
    yield
    torch.set_num_threads(threads)


def _model(num_classes: int = 19):
    return nptrain.create_model("pidnet_s", task="segmentation", num_classes=num_classes)


def test_parity_pidnet_s(source, tmp_path):
    from nptrain.convert import convert_checkpoint

    path = tmp_path / "best.pth.tar"
    torch.save({"state_dict": {f"model.{k}": v for k, v in source.items()}}, path)
    converted = convert_checkpoint(path, source="pidnet", preset="pidnet_s")
    model = _model().eval()
    model.load_state_dict(converted, strict=True)
    x = load_input(FIXTURE)
    with torch.no_grad():
        p_aux, main, boundary = model.full.forward_all(x)  # aux heads with eval-mode BatchNorm
        plain = model.full(x)
        full = model(x)
    report = assert_parity({"p_aux": p_aux, "main": main, "boundary": boundary}, FIXTURE)
    assert max(report.values()) < 0.5, report  # well inside the tolerance, not at its edge
    assert torch.equal(plain, main)  # eval forward = the main head only
    assert tuple(full.shape) == (1, 19, 128, 128)  # the task model upsamples stride 8 to the input


def test_fixture_param_count_is_the_preset(source):
    model = _model()
    assert sum(p.numel() for p in model.parameters()) == source_info(FIXTURE)["params"] == 7_720_935
    assert len(model.state_dict()) == source_info(FIXTURE)["state_dict_entries"] == len(source) == 479


def test_plain_keys_loss_entries_and_missing_bn_counter(source):
    # best.pt without the model. prefix; FullModel's loss buffers are dropped on purpose
    bare = {k: v for k, v in source.items() if not k.endswith("num_batches_tracked")}
    bare["sem_loss.criterion.weight"] = torch.ones(19)
    converted = from_pidnet(bare, preset="pidnet_s")
    assert converted["full.stem.0.norm.num_batches_tracked"].item() == 0
    _model().load_state_dict(converted, strict=True)


def test_unknown_missing_and_mismatched_keys_fail_loudly(source):
    with pytest.raises(ConversionError, match=r"1 unmapped source key.*layer9\.extra\.weight"):
        from_pidnet({**source, "layer9.extra.weight": torch.zeros(1)}, preset="pidnet_s")
    with pytest.raises(ConversionError, match=r"unmapped source key.*linear\.weight.*pidnet_imagenet"):
        from_pidnet({**source, "linear.weight": torch.zeros(1000, 512)}, preset="pidnet_s")
    partial = {k: v for k, v in source.items() if not k.startswith("layer4_d.0.bn3.")}
    with pytest.raises(ConversionError, match=r"5 target key.*unfilled.*full\.d_layer4\.0\.conv3\.norm"):
        from_pidnet(partial, preset="pidnet_s")
    with pytest.raises(ConversionError, match="shape mismatch.*is the checkpoint a pidnet_m"):
        from_pidnet(source, preset="pidnet_m")
    with pytest.raises(ConversionError, match="unfilled"):
        from_pidnet(source, preset="pidnet_l")  # L has other modules (DAPPM, Bag)


def test_imagenet_trunk_leaves_only_the_heads(source):
    trunk = {k: v for k, v in source.items() if not k.startswith(("seghead_", "final_layer."))}
    with pytest.raises(ConversionError, match=r"39 target key.*unfilled.*backbone-only ImageNet file.*pidnet_imagenet"):
        from_pidnet(trunk, preset="pidnet_s")
    trunk["linear.weight"], trunk["linear.bias"] = torch.zeros(1000, 1024), torch.zeros(1000)  # dropped
    converted = from_pidnet_imagenet(trunk, preset="pidnet_s")
    model = _model(num_classes=7)
    missing, unexpected = model.load_state_dict(converted, strict=False)
    # BatchNorm fills an absent num_batches_tracked itself, so load_state_dict does not list those
    heads = [k for k in missing_head_keys("pidnet_s", 7) if not k.endswith("num_batches_tracked")]
    assert not unexpected and sorted(missing) == heads
    assert {k.split(".")[1] for k in missing} == {"seghead_p", "seghead_d", "final_layer"}
    with pytest.raises(ConversionError, match="unmapped source key.*fc\\.weight"):
        from_pidnet_imagenet({**trunk, "fc.weight": torch.zeros(3)}, preset="pidnet_s")
    with pytest.raises(ConversionError, match="full checkpoint.*--from pidnet"):
        from_pidnet_imagenet(source, preset="pidnet_s")


def test_keep_head_false_drops_the_class_dependent_classifiers(source):
    converted = from_pidnet(source, preset="pidnet_s", keep_head=False)
    model = _model(num_classes=5)  # another dataset: only the two classifiers change shape
    missing, unexpected = model.load_state_dict(converted, strict=False)
    assert not unexpected
    assert sorted(missing) == ["full.final_layer.classifier.bias", "full.final_layer.classifier.weight",
                               "full.seghead_p.classifier.bias", "full.seghead_p.classifier.weight"]


def test_file_forms_agree(source, tmp_path):
    # FullModel checkpoints prefix every key with "model." (the converter strips it; the core strips "module.")
    model_prefixed = {f"model.{k}": v for k, v in source.items()}
    assert_file_forms_agree(model_prefixed, source_name="pidnet", preset="pidnet_s", tmp_path=tmp_path,
                            num_classes=19, task="segmentation", wrap=lambda sd: {"state_dict": dict(sd)},
                            file_name="best.pt")
