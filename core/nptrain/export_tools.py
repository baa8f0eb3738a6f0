"""ONNX export that honours the requested opset and is checked against onnxruntime."""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from nptrain.errors import UserError
from nptrain.quiet_library import quiet_library

TOLERANCE = 1e-4
DYNAMO_MIN_OPSET = 18  # torch 2.13's dynamo exporter writes opset 18 or newer, never older
INPUT_NAME = "images"


def onnx_output_name(task: Optional[str]) -> str:
    """The ONNX output's name for a task: detection models output raw predictions (boxes,
    objectness and class scores per anchor), the others class logits (per pixel for segmentation)."""
    return "predictions" if task == "detection" else "logits"


def export_onnx_checked(model: nn.Module, sample: torch.Tensor, path: Path, *, opset: int,
                        dynamic_batch: bool = True, output_name: str = "logits") -> dict[str, Any]:
    """The one ONNX export of nptrain (``run``, ``export``, ``quantize``, ``benchmark``): input
    ``images``, output ``output_name``, the batch axis dynamic unless ``dynamic_batch`` is false, and
    exactly the opset asked for, then onnxruntime compared with PyTorch on ``sample`` (and on its
    first image alone when the batch is dynamic). Raises UserError on failure or mismatch.

    Opsets from 18 use the dynamo exporter (torch's default); older ones the TorchScript exporter,
    the only one that still writes them."""
    model = copy.deepcopy(model).eval().cpu().to(memory_format=torch.contiguous_format)
    sample = sample.detach().cpu().contiguous()
    if dynamic_batch and sample.shape[0] < 2:  # torch.export specialises a batch of 1 to a constant
        sample = torch.cat([sample, sample])
    path.parent.mkdir(parents=True, exist_ok=True)
    # written beside the destination and renamed once checked: a failed export never replaces a good file
    tmp = path.with_name(f".{path.name}.partial")
    try:
        res = _export_and_check(model, sample, tmp, opset=opset, dynamic_batch=dynamic_batch, output_name=output_name)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return {"ok": True, "path": str(path), **res}


def _export_and_check(model: nn.Module, sample: torch.Tensor, path: Path, *, opset: int, dynamic_batch: bool,
                      output_name: str) -> dict[str, Any]:
    import onnx
    import onnxruntime as ort

    exporter = "dynamo" if opset >= DYNAMO_MIN_OPSET else "torchscript"
    try:
        with quiet_library("torch.onnx"):  # opset notes, TorchScript deprecation
            if exporter == "dynamo":
                shapes = ({0: torch.export.Dim("batch", min=1, max=4096)},) if dynamic_batch else None
                program = torch.onnx.export(model, (sample,), dynamo=True, opset_version=opset,
                                            dynamic_shapes=shapes, input_names=[INPUT_NAME],
                                            output_names=[output_name], external_data=False)
                program.save(str(path))
            else:
                axes = {INPUT_NAME: {0: "batch"}, output_name: {0: "batch"}} if dynamic_batch else None
                torch.onnx.export(model, (sample,), str(path), dynamo=False, opset_version=opset,
                                  input_names=[INPUT_NAME], output_names=[output_name], dynamic_axes=axes)
    except Exception as exc:  # noqa: BLE001 - an unsupported op for that opset is the user's to know
        raise UserError(f"ONNX export (opset {opset}, {exporter} exporter) failed: {type(exc).__name__}: "
                        f"{str(exc).splitlines()[0][:300] if str(exc) else ''}") from None
    written = next((o.version for o in onnx.load(str(path)).opset_import if o.domain in ("", "ai.onnx")), None)
    if written != opset:
        raise UserError(f"ONNX export wrote opset {written}, not the requested {opset} (the {exporter} exporter "
                        f"writes {'opsets 18 and newer' if exporter == 'dynamo' else 'opsets below 18'})")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = model(sample)
    got = torch.from_numpy(sess.run(None, {INPUT_NAME: sample.numpy()})[0])
    res = compare_outputs(expected, got)
    if dynamic_batch:  # the batch axis really is dynamic: one image alone gives the same numbers
        one = torch.from_numpy(sess.run(None, {INPUT_NAME: sample[:1].numpy()})[0])
        res["max_abs_diff"] = max(res["max_abs_diff"], compare_outputs(expected[:1], one)["max_abs_diff"])
    if res["max_abs_diff"] > TOLERANCE * max(res["scale"], 1.0):
        raise UserError(f"ONNX output differs from PyTorch (max abs diff {res['max_abs_diff']:.3g})")
    return {"opset": written, "exporter": exporter, "dynamic_batch": dynamic_batch,
            "input_name": INPUT_NAME, "output_name": output_name, **res}


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
