"""nptrain.converter_kit: the shared rename-and-check steps every converter uses fail loudly and precisely."""
from __future__ import annotations

import pytest
import torch

import nptrain
from nptrain.converter_kit import check_layout, convert_by_rule, preset_shapes, rename
from nptrain.errors import ConversionError


def original_layout(num_classes: int = 3) -> dict[str, torch.Tensor]:
    """simple_cnn's weights under an 'original' naming: ``net.`` for the backbone, ``fc.`` for the classifier,
    written by older code that had no BatchNorm counters."""
    torch.manual_seed(0)
    ours = nptrain.create_model("simple_cnn", num_classes=num_classes).state_dict()
    for value in ours.values():
        if value.is_floating_point():
            value.normal_()
    return {("net." + k[len("backbone."):]) if k.startswith("backbone.") else "fc." + k[len("head.classifier."):]: v
            for k, v in ours.items() if not k.endswith("num_batches_tracked")}


def target_key(key: str) -> str | None:
    if key.startswith("net."):
        return "backbone." + key[4:]
    if key.startswith("fc."):
        return "head.classifier." + key[3:]
    return None


def test_convert_by_rule_round_trips_and_fills_counters():
    source = original_layout()
    out = convert_by_rule(source, target_key, source="orig", preset="simple_cnn")
    model = nptrain.create_model("simple_cnn", num_classes=3)
    model.load_state_dict(out, strict=True)  # every key filled, counters included
    assert torch.equal(model.state_dict()["head.classifier.weight"], source["fc.weight"])
    assert int(out["backbone.stem.norm.num_batches_tracked"]) == 0
    # the class count came from the file; without the head the backbone alone is checked
    no_head = convert_by_rule(source, target_key, source="orig", preset="simple_cnn", keep_head=False)
    assert not any(k.startswith("head.") for k in no_head) and len(no_head) == len(out) - 2


def test_unmapped_clashing_unfilled_and_misshapen_keys_raise():
    source = original_layout()
    with pytest.raises(ConversionError, match=r"orig→simple_cnn: 1 unmapped source key\(s\): extra\.w \(hint\)"):
        rename({**source, "extra.w": torch.zeros(1)}, target_key, label="orig→simple_cnn",
               unmapped_hint=lambda keys: " (hint)")
    with pytest.raises(ConversionError, match=r"1 source key pair\(s\) map to one target: fc\.bias and fc2\.bias"):
        rename({**source, "fc2.bias": source["fc.bias"]}, lambda k: target_key(k.replace("fc2", "fc")), label="x")
    assert rename({**source, "loss.w": torch.zeros(1)}, target_key, label="x", skip=("loss.",)).keys() == \
        rename(source, target_key, label="x").keys()
    partial = {k: v for k, v in source.items() if not k.startswith("net.stem.conv")}
    with pytest.raises(ConversionError, match=r"1 target key\(s\) unfilled \(backbone\.stem\.conv\.weight\), "
                                              r"0 unexpected \(\); is the checkpoint a simple_cnn\?"):
        convert_by_rule(partial, target_key, source="orig", preset="simple_cnn")
    wide = dict(source, **{"net.stem.norm.bias": torch.zeros(32)})
    with pytest.raises(ConversionError, match=r"1 shape mismatch\(es\): backbone\.stem\.norm\.bias \(32,\) != \(16,\)"):
        convert_by_rule(wide, target_key, source="orig", preset="simple_cnn")


def test_check_layout_reports_unexpected_keys_with_a_custom_hint():
    expected = preset_shapes("simple_cnn", num_classes=3)
    out = {k: torch.zeros(s) for k, s in expected.items()}
    out["backbone.extra.weight"] = torch.zeros(1)
    with pytest.raises(ConversionError, match=r"0 target key\(s\) unfilled \(\), 1 unexpected \(backbone\.extra\.weight\)"):
        check_layout(out, expected, label="x", preset="simple_cnn")
    del out["backbone.extra.weight"], out["head.classifier.bias"]
    with pytest.raises(ConversionError, match=r"head\.classifier\.bias\), 0 unexpected \(\) \(no head in this file\)"):
        check_layout(out, expected, label="x", preset="simple_cnn", unfilled_hint=lambda keys: " (no head in this file)")


def test_backbone_only_load_is_as_strict_as_a_full_load():
    """A classification network's weights given to a segmentation model fill its backbone exactly; an extra or
    misshapen backbone tensor is refused as in a full load, and nothing is half-loaded silently."""
    from nptrain.checkpoints import _is_other_task, _load_backbone
    from nptrain.errors import UserError

    torch.manual_seed(0)
    classifier = nptrain.create_model("simple_cnn", num_classes=10).state_dict()
    seg = nptrain.create_model("simple_cnn_seg", num_classes=3)
    backbone_state = {k: v for k, v in classifier.items() if k.startswith("backbone.")}
    if backbone_state.keys() != {k for k in seg.state_dict() if k.startswith("backbone.")}:
        pytest.skip("simple_cnn and simple_cnn_seg backbones differ in layout")
    assert _is_other_task(classifier, seg)
    report = _load_backbone(seg, classifier, source="ckpt")
    assert report.fresh_parts == ["head", "neck"] and report.backbone_tensors == len(backbone_state)
    assert all(torch.equal(seg.state_dict()[k], v) for k, v in backbone_state.items())
    with pytest.raises(UserError, match=r"ckpt \(backbone\): state dict does not match the model; "
                                        r"1 unexpected key\(s\): extra\.weight"):
        _load_backbone(seg, {**classifier, "backbone.extra.weight": torch.zeros(1)}, source="ckpt")
    with pytest.raises(UserError, match=r"ckpt \(backbone\): stem\.norm\.bias has shape \(3,\)"):
        _load_backbone(seg, {**classifier, "backbone.stem.norm.bias": torch.zeros(3)}, source="ckpt")
