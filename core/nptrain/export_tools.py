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
    diff = float((got - expected).abs().max())
    if diff > TOLERANCE * max(float(expected.abs().max()), 1.0):
        raise UserError(f"ONNX output differs from PyTorch (max abs diff {diff:.3g})")
    return {"path": str(path), "opset": written, "max_abs_diff": diff}
