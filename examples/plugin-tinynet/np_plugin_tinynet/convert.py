"""Converter from the original naming: ``features.0`` is the stem, ``features.N`` stage N, ``fc`` the classifier."""
from __future__ import annotations

from nptrain.errors import ConversionError


def _target(key: str) -> str:
    if key.startswith("fc."):
        return "head.classifier." + key[3:]
    if key.startswith("features.0."):
        return "backbone.stem." + key[len("features.0."):]
    if key.startswith("features."):
        index, _, rest = key[len("features."):].partition(".")
        return f"backbone.stages.{int(index) - 1}.{rest}"
    raise ConversionError(f"unmapped source key: {key}")


def from_reference(state_dict, *, preset: str, keep_head: bool = True):
    out = {}
    for key, value in state_dict.items():
        target = _target(key)
        if target.startswith("head.") and not keep_head:
            continue
        out[target] = value
    return out
