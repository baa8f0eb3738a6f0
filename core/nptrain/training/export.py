"""Exports that report failure instead of raising: a torch.fx GraphModule (``model_fx.pt``) and ONNX
checked against onnxruntime. ``run`` uses them at its end (the run's weights are already saved);
``nptrain export`` turns a failure into an error."""
from __future__ import annotations

import copy
import io
from pathlib import Path
from typing import Any

import torch
from torch import nn
from nptrain.errors import UserError
from nptrain.export_tools import export_onnx_checked



def export_fx(model: nn.Module, path: Path) -> dict[str, Any]:
    try:
        traced = torch.fx.symbolic_trace(copy.deepcopy(model).eval().to(memory_format=torch.contiguous_format))
        buf = io.BytesIO()
        torch.save(traced, buf)
        # lazy: inside try: its failure is handled here
        from nptrain.training_io import atomic_write_bytes

        atomic_write_bytes(path, buf.getvalue())
        return {"path": str(path), "ok": True}
    except Exception as exc:  # noqa: BLE001 - reported, never fatal
        return {"ok": False, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"}


def export_onnx(model: nn.Module, sample: torch.Tensor, path: Path, opset: int, *,
                output_name: str = "logits", dynamic_batch: bool = True) -> dict[str, Any]:
    """:func:`nptrain.export_tools.export_onnx_checked` (the export ``nptrain export`` runs too), with
    a failure returned as ``{"ok": False, "error": ...}``: at the end of a run the weights are saved
    and the run succeeded whatever the export does."""
    try:
        return export_onnx_checked(model, sample, path, opset=opset, dynamic_batch=dynamic_batch,
                                   output_name=output_name)
    except UserError as exc:
        return {"ok": False, "error": str(exc), "opset": opset}
    except Exception as exc:  # noqa: BLE001 - e.g. onnxruntime refusing the file: reported, never fatal
        return {"ok": False, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}",
                "opset": opset}
