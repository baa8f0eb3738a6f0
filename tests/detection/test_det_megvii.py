"""Megvii YOLOX weights, converted, reproduce the original outputs (fixtures: yolox_nano, yolox_s, from
``../shared/parity``; ``raw`` left out of the copies since it is ``reg``, sigmoid(obj), sigmoid(cls) side by
side, each compared here), the preset sizes equal the original's, and the converter refuses what it cannot place."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.fx

import nptrain
from nptrain.builtin.detection_plugin import YOLOX_SIZES
from nptrain.detection.megvii import from_megvii, target_key
from nptrain.errors import ConversionError
from nptrain.testing.converters import assert_file_forms_agree
from nptrain.testing.parity import assert_parity, load_expected, load_input, make_state_dict, read_keys, source_info
from tests.detection.megvii_layout import megvii_layout, param_count

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_PRESETS = ("yolox_nano", "yolox_s")


def layout(preset: str, num_classes: int = 80):
    dep, wid, dw, _size, _params = YOLOX_SIZES[preset]
    return megvii_layout(dep, wid, dw, num_classes)


def megvii_checkpoint(state: dict) -> dict:
    """What YOLOX's trainer saves (tools/train.py → save_ckpt): the state dict under 'model', beside plain values."""
    return {"start_epoch": 300, "model": state, "optimizer": {"state": {}, "param_groups": []},
            "best_ap": 40.5, "curr_ap": 40.3}


@pytest.fixture(scope="module", params=FIXTURE_PRESETS)
def fixture(request) -> tuple[str, Path, dict]:
    folder = FIXTURES / request.param
    return request.param, folder, make_state_dict(folder)


@pytest.mark.parametrize("preset", FIXTURE_PRESETS)
def test_layout_rules_reproduce_the_fixture_keys(preset):
    # validates megvii_layout itself against the real state dicts before it is trusted for tiny / m / l / x
    assert layout(preset) == [(n, s) for n, _, s in read_keys(FIXTURES / preset)]


@pytest.mark.parametrize("preset", list(YOLOX_SIZES))
def test_param_counts_equal_megvii(preset):
    with torch.device("meta"):
        model = nptrain.create_model(preset, task="detection", num_classes=80)
    original = layout(preset)
    assert sum(p.numel() for p in model.parameters()) == param_count(original) == YOLOX_SIZES[preset][4]
    assert len(model.state_dict()) == len(original)
    if preset in FIXTURE_PRESETS:
        assert YOLOX_SIZES[preset][4] == source_info(FIXTURES / preset)["params"]
    # YOLOX's README table: 0.91M, 5.06M, 9.0M, 25.3M, 54.2M, 99.1M
    published = {"yolox_nano": 0.91, "yolox_tiny": 5.06, "yolox_s": 8.97, "yolox_m": 25.33, "yolox_l": 54.21,
                 "yolox_x": 99.07}
    assert round(YOLOX_SIZES[preset][4] / 1e6, 2) == published[preset]


@pytest.mark.parametrize("preset", ["yolox_tiny", "yolox_m", "yolox_l", "yolox_x"])
def test_layouts_without_fixture_convert(preset):
    # Megvii-layout state dicts built from the original's rules (meta tensors: shapes only, nothing allocated)
    sd = {n: torch.empty(s, device="meta") for n, s in layout(preset)}
    out = from_megvii(sd, preset=preset)
    with torch.device("meta"):
        target = nptrain.create_model(preset, task="detection", num_classes=80).state_dict()
    assert out.keys() == target.keys()
    assert all(tuple(out[k].shape) == tuple(target[k].shape) for k in out)


def _outputs(model: torch.nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every fixture output from our model: neck maps, the head's raw per-level maps (forward hooks, as the
    fixture hooks Megvii's reg/obj/cls preds) and the model's own decoded output."""
    raw: list[torch.Tensor] = []
    hooks = [level.register_forward_hook(lambda _m, _i, out: raw.append(out)) for level in model.head.levels]
    try:
        fpn = model.neck(model.backbone(x))
        pred = model(x)
    finally:
        for hook in hooks:
            hook.remove()
    per_anchor = torch.cat([r.flatten(2) for r in raw], dim=2).permute(0, 2, 1)  # (B, N, 5 + C), like Megvii's
    return {"fpn_out0": fpn[0], "fpn_out1": fpn[1], "fpn_out2": fpn[2], "reg": per_anchor[..., :4],
            "obj_logits": pred[..., 4:5], "cls_logits": pred[..., 5:],
            "decoded": torch.cat((pred[..., :4], pred[..., 4:].sigmoid()), dim=-1), "pred": pred}


def test_parity_with_megvii(fixture):
    preset, folder, source = fixture
    torch.set_flush_denormal(True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = nptrain.create_model(preset, task="detection", num_classes=80).eval()
        model.load_state_dict(from_megvii(source, preset=preset), strict=True)
        x = load_input(folder)
        with torch.no_grad():
            ours = _outputs(model, x)
            traced = torch.fx.symbolic_trace(model)
            traced_out = traced(x)
    finally:
        torch.set_num_threads(threads)
    pred = ours.pop("pred")
    report = assert_parity(ours, folder)
    assert max(report.values()) < 0.5, report  # well inside the tolerance, not at its edge
    # the fx-traced model returns the same tensor, so it meets the fixture the same way
    assert torch.equal(traced_out, pred)
    # the decoded boxes sit on Megvii's grid: a half-cell grid would be off by stride / 2 >= 4 px
    expected = load_expected(folder)["decoded"]
    assert float((pred[..., :2] - expected[..., :2]).abs().max()) < 1e-3


def test_bn_settings_follow_yolox():
    model = nptrain.create_model("yolox_nano", task="detection", num_classes=80)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(norms) == 104 and all(m.eps == 1e-3 and m.momentum == 0.03 for m in norms)


def test_file_forms_agree(tmp_path):
    """{'model': …, 'optimizer': …, 'start_epoch': …} .pth without BatchNorm counters, `nptrain convert` and
    `checkpoint: megvii:FILE`."""
    source = make_state_dict(FIXTURES / "yolox_nano")
    assert_file_forms_agree(source, source_name="megvii", preset="yolox_nano", tmp_path=tmp_path, task="detection",
                            num_classes=80, wrap=megvii_checkpoint, file_name="yolox_nano.pth")


def test_unmapped_missing_and_wrong_size_fail_loudly():
    source = make_state_dict(FIXTURES / "yolox_nano")
    with pytest.raises(ConversionError, match="unmapped source key.*head.extra.weight"):
        from_megvii({**source, "head.extra.weight": torch.zeros(1)}, preset="yolox_nano")
    with pytest.raises(ConversionError, match="unmapped.*strip the wrapper prefix"):
        from_megvii({f"model.{k}": v for k, v in source.items()}, preset="yolox_nano")
    partial = {k: v for k, v in source.items() if not k.startswith("backbone.C3_n3.m.0.conv2.pconv")}
    with pytest.raises(ConversionError, match="target key.*unfilled.*neck.bu_fuse.0.m.0.conv2.pconv"):
        from_megvii(partial, preset="yolox_nano")
    with pytest.raises(ConversionError, match="is the checkpoint a yolox_tiny"):  # depthwise nano keys, plain tiny
        from_megvii(source, preset="yolox_tiny")
    s_file = {n: torch.empty(s, device="meta") for n, s in layout("yolox_s")}
    with pytest.raises(ConversionError, match="shape mismatch.*is the checkpoint a yolox_tiny"):  # same depth
        from_megvii(s_file, preset="yolox_tiny")
    with pytest.raises(ConversionError, match="144 target key.*unfilled.*is the checkpoint a yolox_m"):  # deeper
        from_megvii(s_file, preset="yolox_m")
    with pytest.raises(ConversionError, match="unknown preset; this converter fills yolox_nano"):
        from_megvii(source, preset="resnet50")
    # a renamed key our model lacks (SPP pools have no weights) is refused as unexpected
    assert target_key("backbone.backbone.dark5.1.m.0.weight") == "backbone.dark5.1.m.0.weight"
    with pytest.raises(ConversionError, match=r"1 unexpected \(backbone.dark5.1.m.0.weight\)"):
        from_megvii({**source, "backbone.backbone.dark5.1.m.0.weight": torch.zeros(1)}, preset="yolox_nano")
    assert target_key("head.cls_preds.0.weight.extra") is None and target_key("backbone.C3_p4") is None


def test_other_class_count_loads_all_but_the_class_convs(tmp_path):
    """An 80-class file into a 3-class model: everything but the three cls_pred convs loads, and the report
    names them; a file with its own class count (20, VOC) loads strictly into a 20-class model."""
    from safetensors.torch import save_file

    from nptrain.checkpoints import load_weights

    source = make_state_dict(FIXTURES / "yolox_nano")
    converted = from_megvii(source, preset="yolox_nano")
    src = tmp_path / "yolox_nano.safetensors"
    save_file({k: v.contiguous() for k, v in source.items()}, str(src))
    torch.manual_seed(0)
    model = nptrain.create_model("yolox_nano", task="detection", num_classes=3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = load_weights(model, f"megvii:{src}", preset="yolox_nano")
    class_convs = [f"head.levels.{i}.cls_pred.{leaf}" for i in range(3) for leaf in ("weight", "bias")]
    assert sorted(report.reinitialised) == sorted(class_convs) and not report.missing and not report.unexpected
    assert report.lines() == [f"head re-initialised (class count differs): {', '.join(report.reinitialised)}"]
    after = model.state_dict()
    assert all(torch.equal(after[k], before[k]) for k in class_convs)
    assert all(torch.equal(after[k], converted[k]) for k in after if k not in class_convs)

    voc = dict(source, **{k: torch.zeros((20,) + tuple(v.shape[1:])) for k, v in source.items()
                          if k.startswith("head.cls_preds.")})
    nptrain.create_model("yolox_nano", task="detection", num_classes=20).load_state_dict(
        from_megvii(voc, preset="yolox_nano"), strict=True)


def test_keep_head_false_leaves_out_only_the_class_convs():
    source = make_state_dict(FIXTURES / "yolox_nano")
    headless = from_megvii(source, preset="yolox_nano", keep_head=False)
    full = from_megvii(source, preset="yolox_nano")
    assert sorted(set(full) - set(headless)) == sorted(f"head.levels.{i}.cls_pred.{leaf}" for i in range(3)
                                                        for leaf in ("weight", "bias"))
    # a file without its class-prediction convs converts only that way
    no_cls = {k: v for k, v in source.items() if not k.startswith("head.cls_preds.")}
    assert from_megvii(no_cls, preset="yolox_nano", keep_head=False).keys() == headless.keys()
    with pytest.raises(ConversionError, match="unfilled.*cls_pred"):
        from_megvii(no_cls, preset="yolox_nano")
