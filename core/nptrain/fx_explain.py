"""``torch.fx.symbolic_trace`` with a failure message that points at the fix.

torch's own ``TraceError`` says what went wrong ("symbolically traced variables cannot be used as
inputs to control flow") but not where in a plugin's model, nor what to do. :func:`trace_explained`
records the module path being traced and the first source line outside torch, names the
distribution that ships that code, and links the fx rules of ``docs/plugins.md``.
"""
from __future__ import annotations

import linecache
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any, Optional

import torch
import torch.fx
from torch import nn

from nptrain.errors import PluginFault
from nptrain.plugin_blame import module_of_file, plugin_packages

FX_RULES = "docs/plugins.md#fx-rules"
_TORCH_DIR = str(Path(torch.__file__).resolve().parent)


class _PathTracer(torch.fx.Tracer):
    """A tracer that remembers which submodule (dotted path) was being traced when an error rose."""

    def call_module(self, m: nn.Module, forward: Any, args: tuple, kwargs: dict) -> Any:
        try:
            return super().call_module(m, forward, args, kwargs)
        except Exception as exc:
            if not hasattr(exc, "_nptrain_module_path"):
                try:
                    exc._nptrain_module_path = self.path_of_module(m)  # type: ignore[attr-defined]
                except NameError:
                    exc._nptrain_module_path = type(m).__name__  # type: ignore[attr-defined]
            raise


def source_frame(tb: Optional[TracebackType]) -> Optional[traceback.FrameSummary]:
    """The deepest frame outside torch and nptrain's tracing helpers: the plugin's line that failed."""
    frames = [f for f in traceback.extract_tb(tb)
              if not str(Path(f.filename).resolve()).startswith(_TORCH_DIR) and not f.filename.endswith("fx_explain.py")]
    return frames[-1] if frames else None


def dist_of_module(module_name: str) -> Optional[str]:
    """The plugin distribution whose entry point lives in ``module_name``'s top-level package (None if none)."""
    return plugin_packages().get(module_name.split(".", 1)[0])


def explain_trace_failure(model: nn.Module, exc: BaseException, *, what: str) -> str:
    """One line: what failed to trace, the module path and source line, who ships it, where the rules are."""
    path = getattr(exc, "_nptrain_module_path", "") or "(top level)"
    frame = source_frame(exc.__traceback__)
    where = ""
    owner_module = type(model).__module__
    if frame is not None:
        code = (frame.line or linecache.getline(frame.filename, frame.lineno or 0)).strip()
        where = f" at {frame.filename}:{frame.lineno} in {frame.name}" + (f" `{code}`" if code else "")
        owner_module = module_of_file(frame.filename) or owner_module
    dist = dist_of_module(owner_module)
    by = f" (plugin {dist})" if dist else ""
    reason = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
    return (f"{what}{by}: torch.fx cannot trace module {path!r}{where}: {type(exc).__name__}: {reason}; "
            f"no Python control flow on tensor values or shapes in forward (see the fx rules, {FX_RULES})")


def trace_explained(model: nn.Module, *, what: str = "model") -> torch.fx.GraphModule:
    """``torch.fx.symbolic_trace(model)``; a failure raises :class:`PluginFault` explained in one line."""
    tracer = _PathTracer()
    try:
        graph = tracer.trace(model)
    except Exception as exc:  # noqa: BLE001 - any tracing failure is the model code's, explained
        raise PluginFault(explain_trace_failure(model, exc, what=what)) from exc
    name = model.__class__.__name__
    return torch.fx.GraphModule(tracer.root, graph, name)
