"""The base of the task datasets: items are ``(index, seed)`` and each sample is decoded once when cached.

Our samplers hand every dataset ``(index, seed)`` so a sample's augmentation comes from its own
generator (the same on every resume and for any worker count, see ``nptrain.data.loader``). A task
dataset says how to decode a sample and what its target is; this class does the rest.

With ``cache_data``, a pipeline that starts with a ``resize`` (bilinear or nearest) has it applied once,
when the cache is filled: the resize draws nothing from the generator and gives the same uint8 image
every epoch, so each epoch then resamples once (the random crop) instead of twice, with results
identical to resizing every epoch. An image is cached resized only while that stays small
(:data:`SMALL_RESIZED_BYTES`) or is no larger than the decoded image, so the cache's memory stays bounded
by what ``cache_data`` already holds plus a small amount per image.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import attrs
import torch
from torch.utils.data import Dataset

# a resized image up to this size is cached even when it is larger than the decoded one (digits:
# 8x8 decoded, 32x32 resized, 3 KiB); larger upscales keep the decoded image and resize every epoch
SMALL_RESIZED_BYTES = 256 * 256 * 3


@attrs.frozen
class Resized:
    """A cached sample already through its pipeline's leading resize: uint8 image, compacted target."""

    image: torch.Tensor
    target: dict[str, Any]

    def fresh_target(self) -> dict[str, Any]:
        # a new dict of new tensors each time: transforms and ``finish`` may modify what they are given
        return {k: (v.long() if k == "mask" else v.clone()) if isinstance(v, torch.Tensor) else v
                for k, v in self.target.items()}


def _compact_mask(target: dict[str, Any]) -> dict[str, Any]:
    mask = target.get("mask")
    if mask is None or mask.numel() == 0 or int(mask.min()) < 0 or int(mask.max()) > 255:
        return target
    return {**target, "mask": mask.to(torch.uint8)}  # class ids and ignore 255 fit: an eighth of int64


class SeededDataset(Dataset):
    """``samples`` (one entry per image), ``classes`` (names by id) and an optional seeded ``transform``."""

    def __init__(self, samples: Sequence[Any], classes: list[str], transform: Optional[Callable] = None) -> None:
        self.samples = samples
        self.classes = classes
        self.transform = transform
        self.cache: Optional[list[Any]] = None
        self._resized_for: Optional[Callable] = None  # the pipeline whose leading resize cached entries hold

    def __len__(self) -> int:
        return len(self.samples)

    def decode(self, index: int) -> Any:
        """Read sample ``index`` from disk (errors name the file); what ``cache_images`` keeps."""
        raise NotImplementedError

    def compact(self, decoded: Any) -> Any:
        """How a decoded sample is kept in the cache (default: as it is)."""
        return decoded

    def image_and_target(self, index: int, decoded: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        """The uint8 ``(C, H, W)`` image and the target dict of a decoded sample, before transforms."""
        raise NotImplementedError

    def finish(self, image: torch.Tensor, target: dict[str, Any]) -> dict[str, Any]:
        """Last touch on the target after the transforms (default: none)."""
        return target

    def check_headers(self, index: int) -> None:
        """Open sample ``index``'s files' headers only (no decoding): unreadable, oversized or
        unsupported files fail here, named, instead of in the middle of an epoch. Default: none."""

    def check_files(self) -> None:
        """:meth:`check_headers` of every sample (the cheap stand-in for ``cache_images``)."""
        for index in range(len(self)):
            self.check_headers(index)

    def _leading_resize(self) -> Optional[Callable]:
        lead = getattr(self.transform, "leading_resize", None)
        return lead() if lead is not None else None

    def _cached(self, index: int, resize: Optional[Callable]) -> Any:
        decoded = self.compact(self.decode(index))
        if resize is None:
            return decoded
        image, target = self.image_and_target(index, decoded)
        resized, target = resize(image, target, None)  # a resize draws no random numbers
        if resized.numel() > max(image.numel(), SMALL_RESIZED_BYTES):
            return decoded
        return Resized(resized, _compact_mask(target))

    def cache_images(self) -> None:
        """Decode everything once (environment.cache_data); workers inherit the cache on fork."""
        resize = self._leading_resize()
        self._resized_for = self.transform
        self.cache = [self._cached(i, resize) for i in range(len(self))]

    def __getitem__(self, item):
        index, seed = item if isinstance(item, tuple) else (item, 0)
        entry = self.cache[index] if self.cache is not None else self.decode(index)
        transform = self.transform
        if isinstance(entry, Resized):
            if transform is not self._resized_for:
                raise RuntimeError("the dataset's transform changed after cache_images(); call it again")
            image, target = entry.image, entry.fresh_target()
            transform = self.transform.after_leading_resize()
        else:
            image, target = self.image_and_target(index, entry)
        # a Compose keeps uint8 through its leading geometric transforms and returns float in [0, 1];
        # any other callable gets the float image it always got
        if not getattr(transform, "takes_uint8", False):
            image = image.float().div_(255.0)
        if transform is not None:
            gen = torch.Generator().manual_seed(seed)
            image, target = transform(image, target, gen)
        return image, self.finish(image, target)
