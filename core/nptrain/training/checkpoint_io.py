"""Weights and training-state files.

- ``weights/*.safetensors``: the deployable state dict (EMA weights when EMA is on).
- ``weights/last_optimizer.pt``: everything needed to continue: raw model, optimizer, EMA, epoch,
  history, best result and RNG states. Saved with plain containers and tensors only so it loads
  with ``torch.load(weights_only=True)`` (no pickled code).

Every write goes to a temporary file in the same folder, is fsync'ed and then ``os.replace``d, so a
kill mid-write leaves the previous complete file in place.
"""
from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from nptrain.errors import UserError
from nptrain.training_io import atomic_write_bytes


def save_weights(model: nn.Module, path: Path) -> None:
    # lazy: safetensors
    from safetensors.torch import save

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(path, save(state))


def save_state(state: dict[str, Any], path: Path) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_state(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"training state not found: {path}")
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file: say which one
        raise UserError(f"cannot read training state {path}: {type(exc).__name__}: {str(exc)[:200]}") from None


def rng_state() -> dict[str, Any]:
    """Global RNG states as weights-only-loadable values (numpy's key array becomes a tensor)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    out: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "python": _py_state(random.getstate()),
    }
    if torch.cuda.is_available():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def _py_state(state: tuple) -> list:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
