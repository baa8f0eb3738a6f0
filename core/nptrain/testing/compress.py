"""The compress-and-export check every preset passes: what ``nptrain compress`` and ``nptrain export`` do.

Prune at ``ratio`` with a small input, rebuild the architecture from the weights-only state dict
(as ``retrain.yaml`` does, without unpickling), take an optimiser step on the rebuilt model, then
export the pruned model to ONNX and compare onnxruntime with PyTorch. Shared by the conformance
kit (third-party presets) and ``tests/compression`` (first-party presets).
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Callable, Optional

import attrs
import torch
from torch import nn

from nptrain.errors import UserError
from nptrain.fx_explain import trace_explained


@attrs.define
class CompressCheck:
    params_before: int
    params_after: int
    onnx_max_abs_diff: float


def check_prune_rebuild_train_export(build: Callable[[], nn.Module], x: torch.Tensor, *, what: str,
                                     ratio: float = 0.5, loss: Optional[Callable[[Any], torch.Tensor]] = None,
                                     min_removed: float = 0.1, opset: int = 17) -> CompressCheck:
    """Run the pipeline on ``build()`` (called twice: the pruned model and its rebuilt twin).

    ``loss(output)`` gives the training-step loss (default: mean square of the main output). Each
    failure says which step broke and where to look."""
    # lazy: layer (README map: testing/ may not import compression, export_tools)
    from nptrain.compression.prune import prune, prune_refusal
    from nptrain.compression.reshape import load_pruned
    from nptrain.export_tools import export_onnx_checked

    model = build().eval()
    trace_explained(model, what=what)  # a clear message before torch-pruning's own trace fails obscurely
    if prune_refusal(model):  # a family that says it cannot be pruned: refused in one line, still exported
        try:
            prune(model, x, ratio=ratio)
        except UserError as exc:
            assert "\n" not in str(exc) and "cannot be pruned" in str(exc), str(exc)
        else:
            raise AssertionError(f"{what}: declares prune_refusal but prune() went ahead")
        _train_step(build(), x, loss, f"{what}: a training step on the unpruned model")
        params = sum(p.numel() for p in model.parameters())
        return CompressCheck(params, params, _onnx_diff(export_onnx_checked, model, x, opset))
    report = prune(model, x, ratio=ratio)
    assert report.params_after <= (1 - min_removed) * report.params_before, (
        f"{what}: pruning at {ratio} removed only {1 - report.kept_fraction:.0%} of the parameters; are most "
        f"layers kept whole (modules with num_heads, output layers) or bare parameters without pruning_dims?")
    rebuilt = build()
    load_pruned(rebuilt, model.state_dict(), f"{what} pruned weights")
    with torch.no_grad():
        expected = model(x)
        got = rebuilt.eval()(x)
    assert torch.equal(got, expected), (
        f"{what}: the model rebuilt from the weights-only file differs from the pruned model "
        f"(max abs diff {float((got - expected).abs().max()):.3g}); a size captured in __init__ "
        f"(not read from the layer's weights) is probably used in forward")
    _train_step(rebuilt, x, loss, f"{what}: a training step on the pruned model")
    return CompressCheck(report.params_before, report.params_after, _onnx_diff(export_onnx_checked, model, x, opset))


def _train_step(model: nn.Module, x: torch.Tensor, loss: Optional[Callable[[Any], torch.Tensor]], what: str) -> None:
    """One SGD step in training mode; every parameter must stay finite (``what`` opens the failure)."""
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    out = model(x)
    value = loss(out) if loss is not None else (out["pred"] if isinstance(out, dict) else out).float().pow(2).mean()
    value.backward()
    opt.step()
    bad = [n for n, p in model.named_parameters() if not torch.isfinite(p).all()]
    assert not bad, f"{what} gave non-finite parameters: {bad[:5]}"


def _onnx_diff(export_onnx_checked, model: nn.Module, x: torch.Tensor, opset: int) -> float:
    """Export ``model`` for one image and return onnxruntime's max abs difference from PyTorch."""
    with tempfile.TemporaryDirectory() as tmp:
        res = export_onnx_checked(model, x[:1], Path(tmp) / "model.onnx", opset=opset, dynamic_batch=False)
    return float(res["max_abs_diff"])
