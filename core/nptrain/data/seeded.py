"""The base of the task datasets: items are ``(index, seed)`` and each sample is decoded once when cached.

Our samplers hand every dataset ``(index, seed)`` so a sample's augmentation comes from its own
generator (the same on every resume and for any worker count, see ``nptrain.data.loader``). A task
dataset says how to decode a sample and what its target is; this class does the rest.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import torch
from torch.utils.data import Dataset

from nptrain.errors import UserError


class BadSample:
    """What ``data.on_bad_file: skip`` yields for a sample whose file cannot be read; ``collate`` drops it
    from the batch and the training loop counts it. Crosses from loader workers, so a plain picklable object."""

    def __init__(self, message: str) -> None:
        self.message = message


class SeededDataset(Dataset):
    """``samples`` (one entry per image), ``classes`` (names by id) and an optional seeded ``transform``."""

    def __init__(self, samples: Sequence[Any], classes: list[str], transform: Optional[Callable] = None) -> None:
        self.samples = samples
        self.classes = classes
        self.transform = transform
        self.cache: Optional[list[Any]] = None
        self.on_bad_file = "stop"  # data.on_bad_file, set on the training split by build_data
        self.bad: dict[int, str] = {}  # samples found unreadable by check_files/cache_images under "skip"

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
            self._or_bad(self.check_headers, index)

    def cache_images(self) -> None:
        """Decode everything once (environment.cache_data); workers inherit the cache on fork."""
        self.cache = [self._or_bad(lambda i: self.compact(self.decode(i)), i) for i in range(len(self))]

    def _or_bad(self, read: Callable[[int], Any], index: int) -> Any:
        try:
            return read(index)
        except UserError as exc:
            if self.on_bad_file != "skip":
                raise
            self.bad[index] = str(exc)
            return None

    def __getitem__(self, item):
        index, seed = item if isinstance(item, tuple) else (item, 0)
        if index in self.bad:
            return BadSample(self.bad[index])
        if self.cache is not None:
            decoded = self.cache[index]
        else:
            try:
                decoded = self.decode(index)
            except UserError as exc:  # e.g. truncated since the start-up check: the whole message names the file
                if self.on_bad_file != "skip":
                    raise
                return BadSample(str(exc))
        image, target = self.image_and_target(index, decoded)
        image = image.float().div_(255.0)
        if self.transform is not None:
            gen = torch.Generator().manual_seed(seed)
            image, target = self.transform(image, target, gen)
        return image, self.finish(image, target)
