"""Read original checkpoints in the forms real files come in and run a registered converter.

Forms accepted: ``.safetensors``; ``.pth``/``.pt``/``.bin`` loaded with ``torch.load(weights_only=True)``
(no pickled code runs); a Hugging Face folder with ``model.safetensors`` (or
``pytorch_model.bin``); wrapper dicts (``state_dict``, ``model``, ``module``, ``model_state``);
``module.`` prefixes left by DataParallel. Converters then see a flat ``{name: Tensor}``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch

from nptrain.errors import ConversionError, UserError
from nptrain.plugin_manager import active_plugins, using_plugins

WRAPPER_KEYS = ("state_dict", "model", "module", "model_state", "model_state_dict", "net", "params")


def _read_file(path: Path) -> Any:
    if path.suffix == ".safetensors":
        # lazy: safetensors
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only refuses pickled code: say so rather than unpickling
        raise UserError(f"{path}: cannot read as a weights-only checkpoint ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0][:200]}); convert it to .safetensors or a plain state dict") from None


def _unwrap(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    for _ in range(3):
        if isinstance(obj, Mapping) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
            key = next((k for k in WRAPPER_KEYS if k in obj and isinstance(obj[k], Mapping)), None)
            if key is None:
                break
            obj = obj[key]
    if not isinstance(obj, Mapping) or not obj:
        raise UserError(f"{path}: no state dict found (looked inside {', '.join(WRAPPER_KEYS)})")
    tensors = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise UserError(f"{path}: the checkpoint holds no tensors")
    if all(k.startswith("module.") for k in tensors):
        tensors = {k[len("module."):]: v for k, v in tensors.items()}
    return tensors


def load_source_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A flat original-layout state dict from a file or Hugging Face folder."""
    path = Path(path).expanduser()
    if path.is_dir():
        for name in ("model.safetensors", "pytorch_model.bin", "model.pth"):
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise UserError(f"{path}: folder has no model.safetensors or pytorch_model.bin")
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    return _unwrap(_read_file(path), path)


def convert_checkpoint(path: str | Path, *, source: str, preset: str, keep_head: bool = True,
                       plugins=None) -> dict[str, torch.Tensor]:
    """Load ``path`` and map it onto ``preset`` with the converter registered for ``source``."""
    plugins = plugins or active_plugins()
    converter = plugins.registry.converter(source, preset).record.build_factory()
    state = load_source_state_dict(path)
    with using_plugins(plugins):  # the converter's preset_shapes builds with this same set
        out = converter(state, preset=preset, keep_head=keep_head)
    if not isinstance(out, Mapping):
        raise ConversionError(f"converter {source!r} returned {type(out).__name__}, not a state dict")
    return dict(out)


