"""Tensor transforms configured by ``augmentation.train`` / ``augmentation.inference``.

Every transform is called as ``t(image, target, gen) -> (image, target)`` where ``image`` is a float
``(C, H, W)`` tensor in [0, 1] (until ``normalize``), ``target`` a dict (``label`` for classification,
``mask`` ``(H, W)`` long for segmentation, ``boxes``/``classes`` for detection) and ``gen`` a
``torch.Generator`` owned by the caller. Geometry is applied to the mask (nearest interpolation) and
to boxes (:mod:`nptrain.data.box_geometry`) as well, so every task shares this code. Randomness only comes from ``gen``: the caller seeds it from (seed, epoch, sample index),
which makes augmentation independent of worker count and exactly reproducible on resume.

``mixing`` (mixup/cutmix) is not per-sample: it is returned separately and applied to whole batches.

Each class subclasses its params class (:mod:`nptrain.builtin.transform_params`), which the config
loader has already validated; :func:`build_transforms` only instantiates the checked entries.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Optional, Sequence, Union

import attrs
import torch
import torch.nn.functional as F

from nptrain.builtin.transform_params import (
    CenterCropParams, ColorJitterParams, FlipParams, MixingParams, NormalizeParams, PadParams, RandomCropParams,
    RandomResizedCropParams, ResizeParams,
)
from nptrain.data import box_geometry as geo
from nptrain.records import resolve
import numpy as np

Size = Union[int, list[int]]
Target = dict[str, Any]


class FromParams:
    """``Cls.from_params(params)``: the transform with the fields of its validated params record
    (the factory named by the built-in ``TransformRecord``)."""

    @classmethod
    def from_params(cls, params: Any) -> Any:
        return cls(**{f.name: getattr(params, f.name) for f in attrs.fields(type(params))})


def _hw(size: Size) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    if len(size) != 2:
        raise ValueError(f"size must be an integer or [height, width], got {size}")
    return int(size[0]), int(size[1])


def _uniform(gen: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=gen))


def _resize(image: torch.Tensor, target: Target, hw: tuple[int, int], mode: str) -> tuple[torch.Tensor, Target]:
    if geo.has_geometry(target):
        h, w = image.shape[-2:]
        target = geo.scale(target, hw[1] / w, hw[0] / h)
    # "nearest-exact" samples pixel centres like bilinear with align_corners=False does; torch's plain
    # "nearest" is shifted by up to a pixel, which would misalign masks with their images
    if tuple(image.shape[-2:]) != hw:
        antialias = mode in ("bilinear", "bicubic")
        image = F.interpolate(image[None], size=hw, mode="nearest-exact" if mode == "nearest" else mode,
                              antialias=antialias,
                              **({"align_corners": False} if mode in ("bilinear", "bicubic") else {}))[0]
        if mode == "bicubic":
            image = image.clamp(0, 1)
    if "mask" in target and tuple(target["mask"].shape[-2:]) != hw:
        # class ids are never blended: masks always take the nearest source pixel
        mask = F.interpolate(target["mask"][None, None].float(), size=hw, mode="nearest-exact")[0, 0]
        target = {**target, "mask": mask.long()}
    return image, target


def _crop(image: torch.Tensor, target: Target, top: int, left: int, h: int, w: int) -> tuple[torch.Tensor, Target]:
    image = image[:, top:top + h, left:left + w]
    if "mask" in target:
        target = {**target, "mask": target["mask"][top:top + h, left:left + w]}
    if geo.has_geometry(target):
        target = geo.crop(target, top, left, h, w)
    return image, target


@attrs.define(kw_only=True)
class Resize(ResizeParams, FromParams):
    def __call__(self, image, target, gen):
        h, w = image.shape[-2:]
        if isinstance(self.size, int) and self.resize_criteria in ("short", "long"):
            side = min(h, w) if self.resize_criteria == "short" else max(h, w)
            scale = self.size / side
            if self.max_size is not None:
                scale = min(scale, self.max_size / max(h, w))
            hw = (max(1, round(h * scale)), max(1, round(w * scale)))
        else:
            hw = _hw(self.size)
        return _resize(image, target, hw, self.interpolation)


@attrs.define(kw_only=True)
class RandomResizedCrop(RandomResizedCropParams, FromParams):
    def __call__(self, image, target, gen):
        h, w = image.shape[-2:]
        area = h * w
        log_r = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            target_area = area * _uniform(gen, self.scale[0], self.scale[1])
            aspect = math.exp(_uniform(gen, *log_r))
            cw = round(math.sqrt(target_area * aspect))
            ch = round(math.sqrt(target_area / aspect))
            if 0 < cw <= w and 0 < ch <= h:
                top = int(torch.randint(0, h - ch + 1, (), generator=gen))
                left = int(torch.randint(0, w - cw + 1, (), generator=gen))
                break
        else:  # fall back to the whole image (as a center crop of a clamped aspect)
            ch, cw, top, left = h, w, 0, 0
        image, target = _crop(image, target, top, left, ch, cw)
        return _resize(image, target, _hw(self.size), self.interpolation)


@attrs.define(kw_only=True)
class RandomFlip(FlipParams, FromParams):
    dim: int = -1  # -1 horizontal, -2 vertical (set by the subclass, not by users)

    def __call__(self, image, target, gen):
        if float(torch.rand((), generator=gen)) < self.p:
            image = image.flip(self.dim)
            if "mask" in target:
                target = {**target, "mask": target["mask"].flip(self.dim)}
            if geo.has_geometry(target):
                target = geo.flip(target, self.dim, image.shape[self.dim])
        return image, target


@attrs.define(kw_only=True)
class RandomHorizontalFlip(RandomFlip):
    """``randomhorizontalflip``: mirror left-right with probability ``p``."""


@attrs.define(kw_only=True)
class RandomVerticalFlip(RandomFlip):
    """``randomverticalflip``: mirror top-bottom with probability ``p``."""

    dim: int = -2


def _gray(image: torch.Tensor) -> torch.Tensor:
    if image.shape[0] == 1:
        return image
    return (0.299 * image[0] + 0.587 * image[1] + 0.114 * image[2])[None]


@attrs.define(kw_only=True)
class ColorJitter(ColorJitterParams, FromParams):
    def __call__(self, image, target, gen):
        if float(torch.rand((), generator=gen)) >= self.p:
            return image, target
        if self.brightness > 0:
            image = image * _uniform(gen, max(0.0, 1 - self.brightness), 1 + self.brightness)
        if self.contrast > 0:
            mean = _gray(image).mean()
            image = (image - mean) * _uniform(gen, max(0.0, 1 - self.contrast), 1 + self.contrast) + mean
        if self.saturation > 0 and image.shape[0] == 3:
            gray = _gray(image)
            image = (image - gray) * _uniform(gen, max(0.0, 1 - self.saturation), 1 + self.saturation) + gray
        if self.hue > 0 and image.shape[0] == 3:
            angle = _uniform(gen, -self.hue, self.hue) * 2 * math.pi
            to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
            c, s = math.cos(angle), math.sin(angle)
            rot = torch.tensor([[1.0, 0, 0], [0, c, -s], [0, s, c]])
            mat = torch.linalg.inv(to_yiq) @ rot @ to_yiq
            image = torch.einsum("ij,jhw->ihw", mat, image)
        return image.clamp(0, 1), target


@attrs.define(kw_only=True)
class Normalize(NormalizeParams, FromParams):
    def __call__(self, image, target, gen):
        mean = torch.tensor(self.mean, dtype=image.dtype).view(-1, 1, 1)
        std = torch.tensor(self.std, dtype=image.dtype).view(-1, 1, 1)
        return (image - mean) / std, target


@attrs.define(kw_only=True)
class CenterCrop(CenterCropParams, FromParams):
    mask_fill: int = 255  # set from data.ignore_index by build_transforms

    def __call__(self, image, target, gen):
        ch, cw = _hw(self.size)
        image, target = Pad(size=[ch, cw], center=True, mask_fill=self.mask_fill)(image, target, gen)
        h, w = image.shape[-2:]
        return _crop(image, target, (h - ch) // 2, (w - cw) // 2, ch, cw)


@attrs.define(kw_only=True)
class Pad(PadParams, FromParams):
    center: bool = False  # pad evenly on both sides (CenterCrop's use; not a config field)
    mask_fill: int = 255  # set from data.ignore_index: padded pixels carry no label

    def __call__(self, image, target, gen):
        h, w = image.shape[-2:]
        if self.size is not None:
            th, tw = _hw(self.size)
            ph, pw = max(0, th - h), max(0, tw - w)
            top, left = (ph // 2, pw // 2) if self.center else (0, 0)
            pads = (left, pw - left, top, ph - top)
        else:
            pads = (self.padding,) * 4
        if not any(pads):
            return image, target
        image = F.pad(image, pads, value=self.fill)
        if "mask" in target:
            target = {**target, "mask": F.pad(target["mask"], pads, value=self.mask_fill)}
        if geo.has_geometry(target):
            target = geo.shift(target, pads[0], pads[2])  # (left, right, top, bottom): only left/top move pixels
        return image, target


@attrs.define(kw_only=True)
class RandomCrop(RandomCropParams, FromParams):
    mask_fill: int = 255  # set from data.ignore_index by build_transforms

    def __call__(self, image, target, gen):
        ch, cw = _hw(self.size)
        image, target = Pad(size=[ch, cw], fill=self.fill, mask_fill=self.mask_fill)(image, target, gen)
        h, w = image.shape[-2:]
        top = int(torch.randint(0, h - ch + 1, (), generator=gen))
        left = int(torch.randint(0, w - cw + 1, (), generator=gen))
        return _crop(image, target, top, left, ch, cw)


@attrs.define(kw_only=True)
class Mixing(MixingParams, FromParams):
    def __call__(self, images: torch.Tensor, labels: torch.Tensor, num_classes: int,
                 gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        soft = labels if labels.dim() == 2 else F.one_hot(labels, num_classes).float()
        methods = [(n, v) for n, v in (("mixup", self.mixup), ("cutmix", self.cutmix)) if v]
        if not methods:
            return images, soft
        name, (alpha, p) = methods[int(torch.randint(0, len(methods), (), generator=gen))]
        if float(torch.rand((), generator=gen)) >= p:
            return images, soft
        lam = _beta(alpha, gen)
        perm = torch.randperm(images.shape[0], generator=gen)
        if name == "mixup":
            mixed = images * lam + images[perm] * (1 - lam)
        else:
            h, w = images.shape[-2:]
            cut_h, cut_w = int(h * math.sqrt(1 - lam)), int(w * math.sqrt(1 - lam))
            cy, cx = int(torch.randint(0, h, (), generator=gen)), int(torch.randint(0, w, (), generator=gen))
            y0, y1 = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, h)
            x0, x1 = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, w)
            mixed = images.clone()
            mixed[..., y0:y1, x0:x1] = images[perm][..., y0:y1, x0:x1]
            lam = 1 - (y1 - y0) * (x1 - x0) / float(h * w)  # the area actually pasted
        return mixed, soft * lam + soft[perm] * (1 - lam)


def _beta(alpha: float, gen: torch.Generator) -> float:
    """Beta(alpha, alpha) drawn through a numpy generator seeded from ``gen`` (torch's Beta takes no generator)."""
    seed = int(torch.randint(0, 2**31 - 1, (), generator=gen))
    return float(np.random.default_rng(seed).beta(alpha, alpha))


Transform = Callable[[torch.Tensor, Target, torch.Generator], tuple[torch.Tensor, Target]]


class Compose:
    def __init__(self, transforms: list[Transform]) -> None:
        self.transforms = transforms

    def __call__(self, image: torch.Tensor, target: Target, gen: torch.Generator) -> tuple[torch.Tensor, Target]:
        for t in self.transforms:
            image, target = t(image, target, gen)
        return image, target


def build_transforms(entries: Sequence[Any], ignore_index: int = 255) -> tuple[Compose, Optional[Any]]:
    """The pipeline of validated ``augmentation.<split>`` entries (``TransformConfig`` records from
    ``load_config``) and the batch-level step (mixing), if any. Padded mask pixels get ``ignore_index``."""
    steps: list[Transform] = []
    batch_step: Optional[Any] = None
    for entry in entries:
        factory = resolve(entry.provided.record.factory)
        obj = factory(entry.params)
        if entry.provided.record.batch:
            batch_step = obj
            continue
        if hasattr(obj, "mask_fill"):
            obj.mask_fill = ignore_index
        steps.append(obj)
    return Compose(steps), batch_step
