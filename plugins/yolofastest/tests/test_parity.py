"""The original YOLO-FastestV2 files, converted, reproduce the original code's outputs (fixture made from
dog-qiuqiu/Yolo-FastestV2's own model code in a side venv: tests/fixtures/yolo_fastest_v2, ../shared/parity's format),
every file form agrees, its ImageNet backbone file starts the backbone alone, and ``box_coding: original`` decodes
as the original does."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import nptrain
from nptrain.errors import ConversionError
from nptrain.testing.converters import assert_file_forms_agree
from nptrain.testing.parity import assert_parity, load_input, make_state_dict, source_info

from np_plugin_yolofastest.convert import from_yolofastest

FIXTURE = Path(__file__).parent / "fixtures" / "yolo_fastest_v2"
SHARED_OUTPUTS = 12 * 72 + 12 + 3 * 72 + 3 + 80 * 72 + 80  # one more copy of the three shared output convs


@pytest.fixture(scope="module")
def source() -> dict:
    return make_state_dict(FIXTURE, salt=int(source_info(FIXTURE)["salt"]))


def _model(spec="yolo_fastest_v2"):
    return nptrain.create_model(spec, task="detection", num_classes=80).eval()


def test_parity_with_the_original(source):
    torch.set_flush_denormal(True)
    model = _model()
    assert sum(p.numel() for p in model.parameters()) == source_info(FIXTURE)["params"] + SHARED_OUTPUTS
    model.load_state_dict(from_yolofastest(source, preset="yolo_fastest_v2"), strict=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            raw = model.head.raw_levels(model.neck(model.backbone(load_input(FIXTURE))))
    finally:
        torch.set_num_threads(threads)
    ours = {}
    for level, stride in zip(raw, (16, 32)):  # (B, A, 4 + 1 + C, h, w) -> the original's three maps
        ours[f"reg_{stride}"] = level[:, :, :4].flatten(1, 2)
        ours[f"obj_{stride}"] = level[:, :, 4]
        ours[f"cls_{stride}"] = level[:, 0, 5:]
    report = assert_parity(ours, FIXTURE)
    assert max(report.values()) < 0.5


def test_original_box_coding_decodes_as_the_original(source):
    """The original's handel_preds: cx = (2 sigmoid(tx) - 0.5 + col) * stride, w = (2 sigmoid(tw))^2 anchor_w,
    score sigmoid(obj) * softmax(class)."""
    spec = {"name": "yolo_fastest_v2", "task": "detection",
            "architecture": {"head": {"params": {"box_coding": "original"}}}}
    model = _model(spec)
    model.load_state_dict(from_yolofastest(source, preset="yolo_fastest_v2"), strict=True)
    with torch.no_grad():
        x = load_input(FIXTURE)
        raw = model.head.raw_levels(model.neck(model.backbone(x)))
        out = model(x)
    anchor, row, col, stride = 1, 2, 3, 16
    t = raw[0][0, anchor, :, row, col]
    aw, ah = 37.0, 49.0
    expected = torch.stack([(t[0].sigmoid() * 2 - 0.5 + col) * stride, (t[1].sigmoid() * 2 - 0.5 + row) * stride,
                            (t[2].sigmoid() * 2) ** 2 * aw, (t[3].sigmoid() * 2) ** 2 * ah])
    got = out[0, anchor * 64 + row * 8 + col]
    torch.testing.assert_close(got[:4], expected)
    torch.testing.assert_close(got[5:].sigmoid(), t[5:].softmax(dim=0), rtol=1e-4, atol=1e-6)


def test_file_forms_agree(source, tmp_path):
    """A DataParallel-wrapped .pth without BatchNorm counters, `nptrain convert` and `checkpoint: yolofastest:FILE`."""
    assert_file_forms_agree(source, source_name="yolofastest", preset="yolo_fastest_v2", tmp_path=tmp_path,
                            num_classes=80, task="detection")


def test_the_imagenet_backbone_file_starts_the_backbone(source, tmp_path):
    from safetensors.torch import save_file

    from nptrain.checkpoints import load_weights

    backbone = {k[len("backbone."):]: v for k, v in source.items() if k.startswith("backbone.")}
    path = tmp_path / "backbone.safetensors"
    save_file({k: v.contiguous() for k, v in backbone.items()}, str(path))
    torch.manual_seed(0)
    model = nptrain.create_model("yolo_fastest_v2", num_classes=3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = load_weights(model, f"yolofastest:{path}", preset="yolo_fastest_v2")
    converted = from_yolofastest(source, preset="yolo_fastest_v2")
    after = model.state_dict()
    assert all(torch.equal(after[k], converted[k]) for k in after if k.startswith("backbone."))
    assert all(torch.equal(after[k], before[k]) for k in after if not k.startswith("backbone."))
    assert report.fresh_parts == ["head", "neck"]


def test_unknown_and_missing_keys_fail_loudly(source):
    with pytest.raises(ConversionError, match="unmapped source key.*extra.weight"):
        from_yolofastest({**source, "extra.weight": torch.zeros(1)}, preset="yolo_fastest_v2")
    partial = {k: v for k, v in source.items() if not k.startswith("fpn.reg_head_3.")}
    with pytest.raises(ConversionError, match="unfilled"):
        from_yolofastest(partial, preset="yolo_fastest_v2")
