"""Python API: ``nptrain.create_model("resnet50", task="classification", num_classes=10)``."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional

from nptrain.checkpoints import load_weights
from nptrain.config.loader import load_config
from nptrain.modeling.builder import build_model
from nptrain.modeling.task_models import TaskModel
from nptrain.plugin_manager import default_plugins


def create_model(preset_or_config: str | Path | Mapping[str, Any], *, task: Optional[str] = None,
                 num_classes: int = 1000, checkpoint: Optional[str] = None, plugins=None) -> TaskModel:
    """Build a model from a preset name, a config file, or a ``model`` mapping.

    ``preset_or_config``: a preset name (``"resnet50"``), a path to a YAML config, or a mapping
    shaped like the config's ``model`` section. ``checkpoint`` loads weights (see
    ``nptrain.checkpoints.load_weights``)."""
    plugins = plugins or default_plugins()  # the public entry point: the process-wide set unless one is given
    source: Any
    if isinstance(preset_or_config, Mapping):
        source = {"model": dict(preset_or_config)}
    elif isinstance(preset_or_config, Path) or str(preset_or_config).endswith((".yaml", ".yml")):
        source = [str(preset_or_config)]
    else:
        name = str(preset_or_config)
        source = {"model": {"name": name, "task": task or _preset_task(name, plugins)}}
    overrides = [f"model.task={task}"] if task is not None else []
    loaded = load_config(source, overrides, plugins=plugins, check_files=False)
    model = build_model(loaded.resolved, num_classes, name=loaded.model.name or "")
    if checkpoint:
        load_weights(model, checkpoint, preset=loaded.model.name, plugins=plugins)
    return model


def _preset_task(name: str, plugins) -> str:
    tasks = plugins.registry.preset_tasks(name)
    return "classification" if not tasks or "classification" in tasks else tasks[0]
