"""Write a parity fixture from a reference implementation (the original model code, run once by the author).

The fixture holds no real weights: ``keys.tsv`` lists the reference's state-dict layout and the weights
are regenerated from a deterministic formula (:func:`nptrain.testing.parity.make_state_dict`), so the
reference's outputs on those weights (``expected.safetensors``) are what a converter must reproduce.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import torch
from safetensors.torch import save_file
from torch import nn
from nptrain.testing.parity import make_state_dict

DEFAULT_TOLERANCE = {"rtol": 1e-4, "atol_scale": 1e-5}


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def named_outputs(out: Any) -> dict[str, torch.Tensor]:
    """A forward result as named tensors: a tensor is ``output``, a tuple/list ``output_0``…, a dict as is."""
    if isinstance(out, torch.Tensor):
        return {"output": out}
    if isinstance(out, (tuple, list)):
        return {f"output_{i}": t for i, t in enumerate(out)}
    if isinstance(out, Mapping):
        return {str(k): v for k, v in out.items()}
    raise TypeError(f"cannot name outputs of type {type(out).__name__}; pass outputs=lambda module, x: {{...}}")


def write_fixture(reference: nn.Module, folder: Path, *, input: torch.Tensor, gain: float = 1.0,  # noqa: A002
                  tolerance: Optional[Mapping[str, float]] = None,
                  outputs: Optional[Callable[[nn.Module, torch.Tensor], Mapping[str, torch.Tensor]]] = None,
                  extra: Optional[Mapping[str, Any]] = None) -> dict[str, torch.Tensor]:
    """Write ``keys.tsv``, ``source.json``, ``int_buffers.safetensors`` (when needed), ``input.safetensors``
    and ``expected.safetensors`` for ``reference`` into ``folder``; returns the expected outputs.

    A copy of ``reference`` gets the formula weights (``reference`` itself is untouched) and runs in eval
    mode under ``torch.no_grad()`` on ``input``. ``outputs(module, x)`` names what to compare (default:
    the forward result, see :func:`named_outputs`), e.g. ``lambda m, x: {"logits": m(x), "features":
    m.features(x)}``. Integer buffers that are not all zero (index tables) are stored as they are;
    BatchNorm counters are written as zero. ``extra`` adds fields to ``source.json`` (provenance notes)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = reference.state_dict()
    rows = [f"{name}\t{_dtype_name(t.dtype)}\t{','.join(str(s) for s in t.shape)}" for name, t in state.items()]
    (folder / "keys.tsv").write_text("\n".join(rows) + "\n")
    ints = {name: t.contiguous() for name, t in state.items()
            if not t.is_floating_point() and not name.endswith("num_batches_tracked") and bool(t.any())}
    if ints:
        save_file(ints, str(folder / "int_buffers.safetensors"))
    info = {"written_by": "nptrain.testing.write_fixture", "reference_class": f"{type(reference).__module__}."
            f"{type(reference).__qualname__}", "gain": float(gain), "tolerance": dict(tolerance or DEFAULT_TOLERANCE),
            "state_dict_entries": len(state), "params": sum(p.numel() for p in reference.parameters()),
            "int_buffers": sorted(ints), "input": {"name": "x", "shape": list(input.shape)}, **dict(extra or {})}
    (folder / "source.json").write_text(json.dumps(info, indent=1) + "\n")
    model = copy.deepcopy(reference).eval()
    model.load_state_dict(make_state_dict(folder), strict=True)
    with torch.no_grad():
        expected = dict(outputs(model, input) if outputs else named_outputs(model(input)))
    expected = {k: v.detach().float().contiguous() for k, v in expected.items()}
    save_file({"x": input.contiguous()}, str(folder / "input.safetensors"))
    save_file(expected, str(folder / "expected.safetensors"))
    info["outputs"] = {k: {"shape": list(v.shape)} for k, v in expected.items()}
    (folder / "source.json").write_text(json.dumps(info, indent=1) + "\n")
    return expected
