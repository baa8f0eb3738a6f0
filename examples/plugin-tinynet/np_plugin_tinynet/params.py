"""Params of the tinynet components: attrs classes only, so the entry module stays light."""
from __future__ import annotations

from typing import Literal

import attrs


@attrs.define(kw_only=True)
class TinynetParams:
    stem_channels: int = 16
    act_type: Literal["relu", "silu", "gelu"] = "relu"


@attrs.define(kw_only=True)
class TinynetStage:
    channels: int = 32
    stride: Literal[1, 2] = 2
