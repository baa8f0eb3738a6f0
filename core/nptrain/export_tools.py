"""ONNX export that honours the requested opset and is checked against onnxruntime."""
from __future__ import annotations

import contextlib
import copy
import io
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nptrain.errors import UserError

TOLERANCE = 1e-4


def export_onnx_checked(model: nn.Module, sample: torch.Tensor, path: Path, *, opset: int,
                        dynamic_batch: bool) -> dict[str, Any]:
    """Export with the TorchScript-based exporter (it writes exactly the opset asked for, unlike the
    dynamo exporter that may bump it), then compare onnxruntime with PyTorch; raises on mismatch."""
    import onnx
    import onnxruntime as ort

    model = copy.deepcopy(model).eval().cpu()
    path.parent.mkdir(parents=True, exist_ok=True)
    axes = {"images": {0: "batch"}, "output": {0: "batch"}} if dynamic_batch else None
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (sample,), str(path), dynamo=False, opset_version=opset,
                              input_names=["images"], output_names=["output"], dynamic_axes=axes)
    except Exception as exc:  # noqa: BLE001 - an unsupported op for that opset is the user's to know
        raise UserError(f"ONNX export (opset {opset}) failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}") from None
    written = next(o.version for o in onnx.load(str(path)).opset_import if o.domain in ("", "ai.onnx"))
    if written != opset:
        raise UserError(f"ONNX export wrote opset {written}, not the requested {opset}")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = model(sample)
    got = torch.from_numpy(sess.run(None, {"images": sample.numpy()})[0])
    res = compare_outputs(expected, got)
    if res["max_abs_diff"] > TOLERANCE * max(res["scale"], 1.0):
        raise UserError(f"ONNX output differs from PyTorch (max abs diff {res['max_abs_diff']:.3g})")
    return {"path": str(path), "opset": written, **res}


def compare_outputs(expected: torch.Tensor, got: torch.Tensor) -> dict[str, Any]:
    """Max abs difference over the finite outputs, their largest magnitude, and the NaN/inf count.

    NaN/inf would make every comparison false and a check pass: they must sit at the same places
    (else UserError), and the count is reported because such outputs mean diverged weights."""
    finite = torch.isfinite(expected)
    if not torch.equal(finite, torch.isfinite(got)):
        raise UserError("the outputs hold NaN/inf where the reference outputs are finite (or the reverse)")
    any_finite = bool(finite.any())
    return {"max_abs_diff": float((got[finite] - expected[finite]).abs().max()) if any_finite else 0.0,
            "scale": float(expected[finite].abs().max()) if any_finite else 0.0,
            "non_finite": int((~finite).sum()), "outputs": expected.numel()}


def describe_check(res: dict[str, Any]) -> str:
    """``max abs diff 1.2e-06`` plus a warning when PyTorch's own output held NaN/inf."""
    text = f"max abs diff {res['max_abs_diff']:.2e}"
    if res.get("non_finite"):
        text += (f"; warning: {res['non_finite']} of {res['outputs']} outputs are NaN/inf in PyTorch too "
                 f"(diverged or broken weights?)")
    return text
