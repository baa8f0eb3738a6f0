"""Load the model a run directory, config, or model file describes (for compress/export/benchmark)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import attrs
import torch
from torch import nn

from nptrain.errors import UserError
from nptrain.pickles import trust_pickles
from nptrain.run_files import read_summary


@attrs.define
class ModelSource:
    model: nn.Module
    loaded: Any  # LoadedConfig, or None for a bare fx file
    input_size: tuple[int, int, int]
    num_classes: int
    run_dir: Optional[Path] = None
    name: str = "model"
    weights: Optional[Path] = None  # the run's weights file the model holds (None: a config or fx file)


def _input_shape(loaded, summary: dict, override: Optional[int]) -> tuple[int, int, int]:
    if override:
        return (3, override, override)
    if summary.get("input_shape"):
        return tuple(summary["input_shape"])  # type: ignore[return-value]
    if loaded is not None and loaded.model.name:
        prov = loaded.plugins.registry.preset(loaded.model.name, loaded.model.task)
        if prov is not None:
            return (3, prov.record.default_input_size, prov.record.default_input_size)
    return (3, 224, 224)


def load_model_source(target: str, *, input_size: Optional[int] = None, num_classes: Optional[int] = None,
                      overrides: tuple[str, ...] = (), weights: Optional[str] = None) -> ModelSource:
    """``target``: a run directory (rebuilt from config.yaml + weights/best.safetensors, else
    last.safetensors, or exactly ``weights/<weights>.safetensors`` when ``weights`` is given; nothing
    unpickled), a YAML config (its model.checkpoint is loaded), or an fx GraphModule ``.pt``
    (unpickled: the command line named it)."""
    # lazy: ruamel
    from nptrain.config.loader import load_config
    from nptrain.training.run_model import load_run_model
    from nptrain.training.setup import build_task_model, load_fx_model

    path = Path(target)
    if path.suffix == ".pt" and path.is_file():
        with trust_pickles([path]):  # the caller named this very file
            model = load_fx_model(str(path))
        return ModelSource(model.eval(), None, _input_shape(None, {}, input_size), num_classes or 0, name=path.stem)
    summary: dict = {}
    run_dir = None
    if path.is_dir():
        run_dir = path
        if not (path / "config.yaml").is_file():
            raise UserError(f"{path}: not a run directory (no config.yaml)")

        summary = read_summary(path)
        loaded = load_config([str(path / "config.yaml")], ["model.checkpoint=null", *overrides], check_files=False)
    else:
        loaded = load_config([str(path)], list(overrides))
    classes = summary.get("classes") or []
    n = num_classes or len(classes) or 0
    if not n:
        n = _classes_from_data(loaded) or 1000
    if run_dir is not None:
        names = (f"{weights}.safetensors",) if weights else ("best.safetensors", "last.safetensors")
        weights_path = next((run_dir / "weights" / f for f in names if (run_dir / "weights" / f).is_file()), None)
        if weights_path is None:
            raise UserError(f"{run_dir}: no " + " or ".join(f"weights/{f}" for f in names))
        model = load_run_model(run_dir, loaded, n, weights_path, log=lambda m: None)
    else:
        model = build_task_model(loaded, n, log=lambda m: None)
    name = (loaded.model.name or path.stem) if loaded is not None else path.stem
    return ModelSource(model.eval(), loaded, _input_shape(loaded, summary, input_size), n, run_dir, name,
                       weights_path if run_dir is not None else None)


def _classes_from_data(loaded) -> int:
    try:
        # lazy: ruamel
        from nptrain.training.setup import build_data

        return len(build_data(loaded, need_train=False).classes)
    except Exception:  # noqa: BLE001 - no data here: fall back to the caller's default
        return 0


def example_input(src: ModelSource, batch: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randn((batch,) + tuple(src.input_size), generator=g)
