"""Which memory format a run trains in: ``environment.channels_last`` when the config sets it,
else the preset's declared ``memory_format`` (``PresetRecord.memory_format``), else contiguous."""
from __future__ import annotations

from typing import Any, Optional

import torch

from nptrain.config.loader import LoadedConfig
from nptrain.plugin_manager import default_plugins


def preset_memory_format(loaded: LoadedConfig, plugins: Any = None) -> Optional[str]:
    """The memory format the preset named by ``model.name`` declares, when the run's model is that
    preset (its architecture's components are the preset's; a model the user describes is not)."""
    name, task = loaded.model.name, loaded.model.task
    if not name:
        return None

    prov = (plugins or default_plugins()).registry.preset(name, task)
    if prov is None:
        return None
    arch = prov.record.architecture
    for slot in ("full", "backbone", "neck", "head"):
        declared = (arch.get(slot) or {}).get("name")
        comp = getattr(loaded.resolved, slot)
        if declared != (comp.record.name if comp is not None else None):
            return None
    return prov.record.memory_format


def choose_memory_format(loaded: LoadedConfig, plugins: Any = None) -> tuple[torch.memory_format, str]:
    """The format and the run header's words for it."""
    explicit = loaded.run.environment.channels_last
    if explicit is not None:
        return (torch.channels_last if explicit else torch.contiguous_format,
                f"{'channels_last' if explicit else 'contiguous'} (environment.channels_last)")
    declared = preset_memory_format(loaded, plugins)
    if declared is None:
        return torch.contiguous_format, "contiguous"
    fmt = torch.channels_last if declared == "channels_last" else torch.contiguous_format
    return fmt, f"{declared} (preset {loaded.model.name}'s choice)"
