"""Python API: ``nptrain.create_model("resnet50", task="classification", num_classes=10)``."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Mapping, Optional

from ruamel.yaml import YAML

from nptrain.modeling.task_models import TaskModel


def _write_yaml(data: Mapping[str, Any]) -> str:
    handle = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False, prefix="nptrain-")
    with handle:
        YAML(typ="safe").dump(dict(data), handle)
    return handle.name


def create_model(preset_or_config: str | Path | Mapping[str, Any], *, task: Optional[str] = None,
                 num_classes: int = 1000, checkpoint: Optional[str] = None, plugins=None) -> TaskModel:
    """Build a model from a preset name, a config file, or a ``model`` mapping.

    ``preset_or_config``: a preset name (``"resnet50"``), a path to a YAML config, or a mapping
    shaped like the config's ``model`` section. ``checkpoint`` loads weights (see
    ``nptrain.checkpoints.load_weights``)."""
    from nptrain.config.loader import load_config
    from nptrain.modeling.builder import build_model

    overrides = []
    if isinstance(preset_or_config, Mapping):
        path = _write_yaml({"model": dict(preset_or_config)})
    elif isinstance(preset_or_config, Path) or str(preset_or_config).endswith((".yaml", ".yml")):
        path = str(preset_or_config)
    else:
        path = _write_yaml({"model": {"name": str(preset_or_config), "task": task or _preset_task(str(preset_or_config), plugins)}})
    if task is not None:
        overrides.append(f"model.task={task}")
    try:
        loaded = load_config([path], overrides, plugins=plugins, check_files=False)
    finally:
        if path != str(preset_or_config):
            Path(path).unlink(missing_ok=True)
    model = build_model(loaded.resolved, num_classes, name=loaded.model.name or "")
    if checkpoint:
        from nptrain.checkpoints import load_weights

        load_weights(model, checkpoint, preset=loaded.model.name)
    return model


def _preset_task(name: str, plugins) -> str:
    from nptrain.plugin_manager import default_plugins

    tasks = (plugins or default_plugins()).registry.preset_tasks(name)
    return "classification" if not tasks or "classification" in tasks else tasks[0]
