"""Which distribution provides each part of a config: preset, backbone/neck/head or full model, losses,
and the converter a ``checkpoint: SOURCE:FILE`` goes through.

``nptrain config show --trace`` prints it; with ``NPTRAIN_TRACE_PLUGINS=1`` every command that loads a
config prints it on stderr. Light to import (no torch).
"""
from __future__ import annotations

import os
import sys
from typing import Any, Optional

from nptrain.checkpoint_spec import CheckpointSpec


def _where(plugins: Any, provided: Any) -> str:
    version = next((p.version for p in plugins.plugins if p.dist == provided.dist), "?")
    factory = getattr(provided.record, "factory", None)
    ref = factory if isinstance(factory, str) else getattr(factory, "__qualname__", "")
    return f"{provided.dist} {version} (entry point {provided.plugin}" + (f", {ref})" if ref else ")")


def _checkpoint_source(spec: Optional[str]) -> Optional[str]:
    return CheckpointSpec.parse(spec).source if spec else None


def provider_lines(loaded: Any, plugins: Any) -> list[str]:
    """One line per part: ``kind name: distribution version (entry point, factory)``."""
    reg, model, resolved = plugins.registry, loaded.model, loaded.resolved
    lines = []
    if model.name:
        preset = reg.preset(model.name, model.task)
        if preset is not None:
            lines.append(f"preset {model.name} ({model.task}): {_where(plugins, preset)}")
    for part in ("full", "backbone", "neck", "head"):
        comp = getattr(resolved, part)
        if comp is not None:
            lines.append(f"{part} {comp.record.name}: {_where(plugins, comp.provided)}")
    for loss in resolved.losses:
        lines.append(f"loss {loss.provided.record.name}: {_where(plugins, loss.provided)}")
    source = _checkpoint_source(model.checkpoint)
    if source and model.name:
        found = reg.find("converter", (source, model.name))
        lines.append(f"converter {source} → {model.name}: " + (_where(plugins, found) if found else "none installed"))
    return lines


def trace_config(loaded: Any, plugins: Any) -> None:
    """Print :func:`provider_lines` on stderr when ``NPTRAIN_TRACE_PLUGINS`` is set."""
    if os.environ.get("NPTRAIN_TRACE_PLUGINS"):  # as the plugin manager reads it: any value turns it on
        for line in provider_lines(loaded, plugins):
            print(f"[nptrain plugins] {line}", file=sys.stderr)
