"""The model of a run directory, rebuilt from its ``config.yaml`` and safetensors weights.

A run directory may come from someone else, so nothing in it is unpickled unless pickles are
trusted (``--trust-pickle``, see :mod:`nptrain.pickles`). The configured architecture is built,
every layer shrunk to the shapes the weights hold (a pruned or retrained-pruned run) and the
weights loaded strictly: the weights-only rebuild ``nptrain compress`` relies on. ``model.checkpoint``
and ``model.fx_model_checkpoint`` are not read: the run's own weights replace them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from torch import nn

from nptrain.config.loader import LoadedConfig
from nptrain.errors import UserError
from nptrain.pickles import TRUST_FLAG, trusted
from nptrain.modeling.builder import build_model
from nptrain.pickles import load_graph_module
from nptrain.training.setup import build_task_model


def has_architecture(loaded: LoadedConfig) -> bool:
    """Whether the config describes a model to build (not only a GraphModule file to unpickle)."""
    return loaded.resolved.full is not None or loaded.resolved.backbone is not None


def rebuild_with_weights(loaded: LoadedConfig, num_classes: int, weights: Path) -> nn.Module:
    """The configured architecture with ``weights`` (a safetensors state dict) loaded strictly,
    layers resized first when the shapes differ (pruned models)."""
    # lazy: safetensors; layer (README map: training/ may not import compression)
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from nptrain.compression.reshape import load_pruned
    model = build_model(loaded.resolved, num_classes, name=loaded.model.name or "")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError) as exc:
        raise UserError(f"cannot read weights {weights}: {exc}") from None
    own = model.state_dict()
    if any(k in own and tuple(own[k].shape) != tuple(v.shape) for k, v in state.items()):
        return load_pruned(model, state, str(weights))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise UserError(f"{weights}: does not fit the architecture in the run's config.yaml "
                        f"({str(exc).splitlines()[0][:200]})") from None
    return model


def load_run_model(run_dir: Path, loaded: LoadedConfig, num_classes: int, weights: Path,
                   log: Callable[[str], None] = print) -> nn.Module:
    """``run_dir``'s model with ``weights`` (one of its ``weights/*.safetensors``) loaded.

    Only a run trained from a bare GraphModule (``model.fx_model_checkpoint`` a ``.pt`` and no
    ``model.architecture``) cannot be rebuilt; its ``weights/model_fx.pt`` is unpickled only with
    ``--trust-pickle``."""
    if has_architecture(loaded) or not loaded.model.fx_model_checkpoint:
        return rebuild_with_weights(loaded, num_classes, weights)
    fx = run_dir / "weights" / "model_fx.pt"
    if not trusted(fx):
        raise UserError(f"{run_dir / 'config.yaml'}: model.fx_model_checkpoint: this run was trained from a torch.fx "
                        f"pickle and its config has no model.architecture, so it cannot be rebuilt from "
                        f"weights/{weights.name}; pass {TRUST_FLAG} to unpickle weights/model_fx.pt (runs code "
                        "from the file: only for run directories you trust)")
    if not fx.is_file():
        raise UserError(f"{run_dir}: trained from an fx model but has no weights/model_fx.pt")
    # lazy: safetensors
    from safetensors.torch import load_file

    model = load_graph_module(fx, refuse=UserError, log=log)
    try:
        model.load_state_dict(load_file(str(weights)))
    except RuntimeError as exc:
        raise UserError(f"{weights}: does not fit {fx} ({str(exc).splitlines()[0][:200]})") from None
    setattr(model, "task", loaded.model.task)
    return model


def model_for_resume(loaded: LoadedConfig, num_classes: int, run_dir: Path,
                     log: Callable[[str], None] = print) -> nn.Module:
    """The model ``--resume`` continues: shapes from the run's ``weights/last.safetensors`` when the
    config trained a pruned model (the training state then overwrites the values), so the
    configured ``.pt`` is not unpickled again; otherwise the config's usual model."""
    last = run_dir / "weights" / "last.safetensors"
    if loaded.model.fx_model_checkpoint and has_architecture(loaded) and last.is_file():
        return rebuild_with_weights(loaded, num_classes, last)
    return build_task_model(loaded, num_classes, load_checkpoint=False, log=log)
