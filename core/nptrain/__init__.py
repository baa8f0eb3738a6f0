"""nptrain: a plugin-based trainer for edge-deployable vision models.

This module stays light (no torch import) because ``nptrain --help`` and plugin entry modules
import it. Heavy entry points are loaded on first use through ``__getattr__``.
"""
from __future__ import annotations

from typing import Any
import importlib

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("nptrain")
"""Marker for plugin hook implementations: ``@nptrain.hookimpl``."""

_LAZY = {
    "create_model": "nptrain.modeling.api",
    "load_config": "nptrain.config.loader",
    # the Python API the CLI commands call (docs/python.md)
    "train": "nptrain.api.train",
    "evaluate": "nptrain.api.evaluate",
    "predict": "nptrain.api.predict",
    "export": "nptrain.api.export",
    "compress": "nptrain.api.compress",
    "Run": "nptrain.api.runs",
    "ClassScores": "nptrain.api.predict",
    "SegmentationMask": "nptrain.api.predict",
    "Detections": "nptrain.api.predict",
    "UserError": "nptrain.errors",
    "ConfigError": "nptrain.errors",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nptrain' has no attribute {name!r}")


__all__ = ["__version__", "hookimpl", "create_model", "load_config", "train", "evaluate", "predict", "export",
           "compress", "Run", "ClassScores", "SegmentationMask", "Detections", "UserError", "ConfigError"]
