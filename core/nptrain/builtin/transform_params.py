"""Params classes of the built-in transforms (attrs only: the plugin entry module stays light).

The implementations in :mod:`nptrain.data.transforms` subclass these, adding the call and the
internal fields a config may not set (flip axis, mask fill), so the fields are declared once."""
from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

import attrs

from nptrain.config.ranges import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, Probability, Range

# an int, or [height, width]
Size = Union[PositiveInt, Annotated[list[PositiveInt], Range(length=2)]]
Interpolation = Literal["bilinear", "nearest", "bicubic"]
# [low, high] fractions of the image area
AreaRange = Annotated[list[Annotated[float, Range(gt=0, le=1)]], Range(length=2)]
AspectRange = Annotated[list[PositiveFloat], Range(length=2)]
# [alpha, p]: Beta(alpha, alpha) mixing weight, probability per batch
MixSpec = Annotated[list[NonNegativeFloat], Range(length=2)]


@attrs.define(kw_only=True)
class ResizeParams:
    """``resize``: to ``size`` ([h, w] or int); with ``resize_criteria: short|long`` an int sets that side
    (``long`` followed by ``pad`` to the same ``size`` is a letterbox: the aspect ratio is kept)."""

    size: Size = 256
    interpolation: Interpolation = "bilinear"
    max_size: Optional[PositiveInt] = None
    resize_criteria: Optional[Literal["short", "long"]] = None


@attrs.define(kw_only=True)
class RandomResizedCropParams:
    """``randomresizedcrop``: a crop of random area ``scale`` and aspect ``ratio``, resized to ``size``."""

    size: Size = 224
    scale: AreaRange = attrs.Factory(lambda: [0.08, 1.0])
    ratio: AspectRange = attrs.Factory(lambda: [3 / 4, 4 / 3])
    interpolation: Interpolation = "bilinear"


@attrs.define(kw_only=True)
class FlipParams:
    """``randomhorizontalflip`` / ``randomverticalflip``: mirror with probability ``p``."""

    p: Probability = 0.5


@attrs.define(kw_only=True)
class ColorJitterParams:
    """``colorjitter``: random brightness/contrast/saturation factors in [1-x, 1+x] and a hue
    rotation in [-hue, hue] (in YIQ space, cheap and close to an HSV shift), applied with probability ``p``."""

    brightness: NonNegativeFloat = 0.0
    contrast: NonNegativeFloat = 0.0
    saturation: NonNegativeFloat = 0.0
    hue: Annotated[float, Range(ge=0, le=0.5)] = 0.0
    p: Probability = 1.0


def _same_length(instance: "NormalizeParams", attribute: attrs.Attribute, value: list) -> None:
    if len(value) != len(instance.mean):
        raise ValueError(f"'std' must be as long as mean ({len(instance.mean)} values): {value}")


@attrs.define(kw_only=True)
class NormalizeParams:
    """``normalize``: ``(x - mean) / std`` per channel (ImageNet statistics by default)."""

    mean: list[float] = attrs.Factory(lambda: [0.485, 0.456, 0.406])
    std: list[PositiveFloat] = attrs.field(factory=lambda: [0.229, 0.224, 0.225], validator=_same_length)


@attrs.define(kw_only=True)
class CenterCropParams:
    """``centercrop``: the central ``size`` region (padded with 0 first if the image is smaller)."""

    size: Size = 224


@attrs.define(kw_only=True)
class PadParams:
    """``pad``: grow to at least ``size`` ([h, w] or int) with ``fill`` (the mask gets ``data.ignore_index``),
    or add a fixed ``padding`` on every side. Padding goes bottom/right."""

    size: Optional[Size] = None
    padding: NonNegativeInt = 0
    fill: float = 0.0


@attrs.define(kw_only=True)
class RandomCropParams:
    """``randomcrop``: a random ``size`` crop (padded with ``fill`` first if the image is smaller)."""

    size: Size = 224
    fill: float = 0.0


def _mix_spec(instance: "MixingParams", attribute: attrs.Attribute, value: Optional[list]) -> None:
    if value is not None and not (value[0] > 0 and value[1] <= 1):
        raise ValueError(f"'{attribute.name}' must be [alpha > 0, p in [0, 1]]: {value}")


_mix_spec.range_text = "alpha > 0, p in [0, 1]"  # type: ignore[attr-defined]  # for docs/config.md


@attrs.define(kw_only=True)
class MixingParams:
    """``mixing``: mixup ``[alpha, p]`` and/or cutmix ``[alpha, p]`` on whole training batches.

    One of the enabled methods is drawn per batch (each with its ``p``); labels become soft
    ``(B, C)`` targets that the loss receives. Classification training only."""

    mixup: Optional[MixSpec] = attrs.field(default=None, validator=_mix_spec)
    cutmix: Optional[MixSpec] = attrs.field(default=None, validator=_mix_spec)
    inplace: bool = False  # accepted for config compatibility; batches are never modified in place
