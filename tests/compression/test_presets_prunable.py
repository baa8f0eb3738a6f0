"""Every first-party preset is pruned at ratio 0.5, rebuilt from the weights-only file, retrained
for a step and exported to ONNX with onnxruntime parity (small inputs keep this fast)."""
from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import torch

import nptrain
from nptrain.compression.prune import prune
from nptrain.compression.reshape import load_pruned
from nptrain.export_tools import export_onnx_checked
from nptrain.plugin_manager import default_plugins

# presets documented in docs/compression.md as not prunable, with the reason
NOT_PRUNABLE: dict[str, str] = {}
SIZE = 64


def first_party_presets():
    reg = default_plugins().registry
    return [pytest.param(p.record.name, p.record.task, id=f"{p.record.name}-{p.record.task}")
            for p in reg.all("preset") if p.dist.startswith("np-plugin-") and p.dist != "np-plugin-tinynet"]


@pytest.mark.parametrize("preset,task", first_party_presets())
def test_prune_retrain_export(preset, task):
    if preset in NOT_PRUNABLE:
        pytest.skip(NOT_PRUNABLE[preset])
    torch.manual_seed(0)
    model = nptrain.create_model(preset, task=task, num_classes=4).eval()
    x = torch.randn(2, 3, SIZE, SIZE)
    report = prune(model, x, ratio=0.5)
    assert report.params_after < 0.9 * report.params_before, f"only {1 - report.kept_fraction:.0%} removed"
    rebuilt = nptrain.create_model(preset, task=task, num_classes=4)
    load_pruned(rebuilt, model.state_dict())
    with torch.no_grad():
        expected = model(x)
        assert torch.equal(rebuilt.eval()(x), expected)
    # one retraining step on the pruned architecture
    rebuilt.train()
    opt = torch.optim.SGD(rebuilt.parameters(), lr=1e-3)
    out = rebuilt(x)
    pred = out["pred"] if isinstance(out, dict) else out
    pred.float().pow(2).mean().backward()
    opt.step()
    assert all(torch.isfinite(p).all() for p in rebuilt.parameters())
    with tempfile.TemporaryDirectory() as tmp:
        res = export_onnx_checked(model, x[:1], Path(tmp) / "m.onnx", opset=17, dynamic_batch=False)
    assert res["max_abs_diff"] < 1e-3
