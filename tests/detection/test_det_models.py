"""cspdarknet / yolopafpn / anchor_free_decoupled_head: shapes, YOLOX-s size, decoding, fx, ONNX,
and the conformance kit on the detection providers."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.fx

import nptrain
from nptrain.builtin.detection_params import AnchorFreeDecoupledHeadParams, CSPDarknetParams, YOLOPAFPNParams
from nptrain.detection.assigner import infer_anchors
from nptrain.detection.cspdarknet import build as build_backbone
from nptrain.detection.head import build as build_head
from nptrain.detection.pafpn import build as build_neck
from nptrain.testing import conformance_tests
from tests.detection.helpers import detection_plugins

PLUGINS, DIST = detection_plugins()
if DIST is not None:  # once the core registers the module, tests/test_builtin_conformance.py covers it
    TestDetectionConformance = conformance_tests(DIST, plugins=PLUGINS, input_size=64)


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def create(name_or_model, num_classes: int = 80):
    torch.manual_seed(0)
    return nptrain.create_model(name_or_model, task="detection", num_classes=num_classes, plugins=PLUGINS)


def test_yolox_s_matches_published_size():
    """YOLOX-s is published with 8.97M parameters (80 COCO classes)."""
    model = create("yolox_s")
    assert n_params(model) == 8_968_255
    assert round(n_params(model) / 1e6, 2) == 8.97
    assert model.backbone.feature_info.channels == (128, 256, 512)
    assert model.backbone.feature_info.strides == (8, 16, 32)


def test_backbone_neck_head_shapes():
    bb = build_backbone(CSPDarknetParams(dep_mul=0.33, wid_mul=0.25), [], "detection").eval()
    neck = build_neck(YOLOPAFPNParams(), bb.feature_info).eval()
    head = build_head(AnchorFreeDecoupledHeadParams(depthwise=True), neck.feature_info, 3, "detection").eval()
    x = torch.randn(2, 3, 96, 64)
    with torch.no_grad():
        feats = bb(x)
        assert [tuple(f.shape) for f in feats] == [(2, 64, 12, 8), (2, 128, 6, 4), (2, 256, 3, 2)]
        outs = neck(feats)
        assert [tuple(o.shape) for o in outs] == [tuple(f.shape) for f in feats]
        pred = head(outs)
    assert tuple(pred.shape) == (2, 12 * 8 + 6 * 4 + 3 * 2, 5 + 3)


def test_head_decodes_on_the_anchor_grid():
    """Training output carries the anchor grid (cell centres); it equals the grid rebuilt from the input
    size, and a zero raw prediction decodes, as in YOLOX, to a stride-sized box centred on the cell's
    top-left corner: half a stride before its anchor point."""
    model = create({"task": "detection", "architecture": {
        "backbone": {"name": "cspdarknet", "params": {"wid_mul": 0.125}}, "neck": {"name": "yolopafpn"},
        "head": {"name": "anchor_free_decoupled_head"}}}, num_classes=2)
    for level in model.head.levels:  # make the raw outputs exactly zero
        for conv in (level.reg_pred, level.obj_pred, level.cls_pred):
            torch.nn.init.zeros_(conv.weight)
            torch.nn.init.zeros_(conv.bias)
    out = model.train()(torch.randn(1, 3, 64, 96))
    anchors = out["anchors"]
    assert torch.equal(anchors, infer_anchors(anchors.shape[0], [8, 16, 32], image_size=(64, 96)))
    pred = out["pred"][0]
    assert torch.equal(pred[:, :2], anchors[:, :2] - anchors[:, 2:3] / 2)
    assert pred[0, :2].tolist() == [0.0, 0.0] and anchors[0].tolist() == [4.0, 4.0, 8.0]
    assert torch.equal(pred[:, 2], anchors[:, 2]) and torch.equal(pred[:, 3], anchors[:, 2])
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 3, 64, 96)).shape[1:] == pred.shape


def test_head_after_fpn_on_simple_cnn():
    model = create({"task": "detection", "architecture": {
        "backbone": {"name": "simple_cnn"}, "neck": {"name": "fpn", "params": {"out_channels": 32, "num_outs": 4}},
        "head": {"name": "anchor_free_decoupled_head"}}}, num_classes=4).eval()
    assert model.head.strides == (4, 8, 16, 32)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        out = model(x)
    assert tuple(out.shape) == (2, 16 * 16 + 8 * 8 + 4 * 4 + 2 * 2, 9)
    traced = torch.fx.symbolic_trace(model)
    with torch.no_grad():
        assert torch.equal(traced(x), out)


def test_yolox_s_fx_and_onnx(tmp_path: Path):
    pytest.importorskip("onnxruntime")
    from nptrain.export_tools import export_onnx_checked

    model = create("yolox_s", num_classes=3).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        out = model(x)
        traced = torch.fx.symbolic_trace(model)
        assert torch.equal(traced(x), out)
        # the traced module is not tied to the traced input size
        y = torch.randn(1, 3, 96, 64)
        assert torch.equal(traced(y), model(y))
    res = export_onnx_checked(model, x, tmp_path / "yolox_s.onnx", opset=17, dynamic_batch=True)
    assert res["max_abs_diff"] < 1e-3
    import onnxruntime as ort

    sess = ort.InferenceSession(str(tmp_path / "yolox_s.onnx"), providers=["CPUExecutionProvider"])
    x2 = torch.randn(2, 3, 64, 64)
    got = torch.from_numpy(sess.run(None, {"images": x2.numpy()})[0])
    with torch.no_grad():
        assert torch.allclose(got, model(x2), atol=1e-3, rtol=1e-4)


def test_cspdarknet_serves_classification():
    model = nptrain.create_model({"task": "classification", "architecture": {
        "backbone": {"name": "cspdarknet", "params": {"wid_mul": 0.125, "depthwise": True, "act_type": "relu"}},
        "head": {"name": "fc"}}}, num_classes=7, plugins=PLUGINS).eval()
    with torch.no_grad():
        assert tuple(model(torch.randn(2, 3, 64, 64)).shape) == (2, 7)


def test_yolox_s_prunes_rebuilds_and_exports(tmp_path: Path):
    """Structured pruning keeps the decoupled head's output layers whole and the pruned model
    rebuilds exactly from its weights (the same check first-party plugin presets pass)."""
    pytest.importorskip("torch_pruning")
    from nptrain.compression.prune import prune
    from nptrain.compression.reshape import load_pruned
    from nptrain.export_tools import export_onnx_checked

    model = create("yolox_s", num_classes=4).eval()
    x = torch.randn(2, 3, 64, 64)
    report = prune(model, x, ratio=0.5)
    assert report.params_after < 0.5 * report.params_before
    rebuilt = create("yolox_s", num_classes=4)
    load_pruned(rebuilt, model.state_dict())
    with torch.no_grad():
        assert torch.equal(rebuilt.eval()(x), model(x))
    assert export_onnx_checked(model, x[:1], tmp_path / "m.onnx", opset=17, dynamic_batch=False)["max_abs_diff"] < 1e-3
