"""Converter from the original naming: ``features.0`` is the stem, ``features.N`` stage N, ``fc`` the classifier."""
from __future__ import annotations

from typing import Optional

from nptrain.converter_kit import convert_by_rule


def target_key(key: str) -> Optional[str]:
    """Our key for an original key, or None when it has no counterpart (the kit then raises, naming it)."""
    if key.startswith("fc."):
        return "head.classifier." + key[3:]
    if key.startswith("features.0."):
        return "backbone.stem." + key[len("features.0."):]
    if key.startswith("features."):
        index, _, rest = key[len("features."):].partition(".")
        return f"backbone.stages.{int(index) - 1}.{rest}" if index.isdigit() else None
    return None


def from_reference(state_dict, *, preset: str, keep_head: bool = True):
    # unmapped source keys and unfilled, unexpected or misshapen keys against the preset raise ConversionError
    # (a rule may also return nptrain.converter_rules.Map/Split/Concat when a value changes shape or is fused)
    return convert_by_rule(state_dict, target_key, source="reference", preset=preset, keep_head=keep_head)
