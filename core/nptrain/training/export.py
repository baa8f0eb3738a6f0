"""End-of-run exports: a torch.fx GraphModule (``model_fx.pt``) and ONNX (``model.onnx``) checked
against onnxruntime. Failures come back as messages; the run's weights are already saved."""
from __future__ import annotations

import contextlib
import copy
import io
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nptrain.export_tools import compare_outputs


def export_fx(model: nn.Module, path: Path) -> dict[str, Any]:
    try:
        traced = torch.fx.symbolic_trace(copy.deepcopy(model).eval().to(memory_format=torch.contiguous_format))
        buf = io.BytesIO()
        torch.save(traced, buf)
        from nptrain.training_io import atomic_write_bytes

        atomic_write_bytes(path, buf.getvalue())
        return {"path": str(path), "ok": True}
    except Exception as exc:  # noqa: BLE001 - reported, never fatal
        return {"ok": False, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"}


def export_onnx(model: nn.Module, sample: torch.Tensor, path: Path, opset: int) -> dict[str, Any]:
    """Export with a dynamic batch axis and compare onnxruntime with eager torch on ``sample``."""
    # the usual layout: a channels_last training run exports the same file as any other
    model = copy.deepcopy(model).eval().cpu().to(memory_format=torch.contiguous_format)
    sample = sample.cpu().contiguous()
    log = io.StringIO()
    import logging

    # the dynamo exporter logs warnings (opset bumps, missing torchvision ops) through `logging`
    quiet = logging.getLogger("torch.onnx")
    old_level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            warnings.simplefilter("ignore")
            batch = torch.export.Dim("batch", min=1, max=4096)
            program = torch.onnx.export(model, (sample,), dynamo=True, opset_version=opset,
                                        dynamic_shapes=({0: batch},), input_names=["images"],
                                        output_names=["logits"], external_data=False)
            program.save(str(path))
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"}
    finally:
        quiet.setLevel(old_level)
    out: dict[str, Any] = {"ok": True, "path": str(path)}
    try:
        import onnx
        import onnxruntime as ort

        out["opset"] = next((o.version for o in onnx.load(str(path)).opset_import if o.domain in ("", "ai.onnx")), None)
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        with torch.no_grad():
            expected = model(sample)
        got = sess.run(None, {sess.get_inputs()[0].name: sample.numpy()})[0]
        out.update(compare_outputs(expected, torch.from_numpy(got)))
        if sample.shape[0] > 1:  # the batch axis really is dynamic
            one = sess.run(None, {sess.get_inputs()[0].name: sample[:1].numpy()})[0]
            out["max_abs_diff"] = max(out["max_abs_diff"],
                                      compare_outputs(expected[:1], torch.from_numpy(one))["max_abs_diff"])
    except Exception as exc:  # noqa: BLE001 - includes NaN/inf at different places (UserError)
        out["check_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
    return out
