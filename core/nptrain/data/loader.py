"""Samplers and DataLoaders.

Our sampler yields ``(index, seed)`` pairs: the order is a permutation drawn from
``seed + epoch`` and each sample's augmentation seed is derived from (seed, epoch, index). Nothing
depends on global RNG state, worker count or which process ran earlier epochs, so a resumed run
sees exactly the batches an uninterrupted run would. In distributed runs it also shards like
``torch.utils.data.DistributedSampler`` (train: padded to equal length so every rank takes the same
number of steps; eval: no padding so reduced metrics count each sample exactly once).
"""
from __future__ import annotations

from typing import Any, Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from nptrain.errors import UserError


def sample_seed(seed: int, epoch: int, index: int) -> int:
    # a simple integer mix; distinct for distinct (epoch, index) and stable across machines
    return (seed * 1_000_003 + epoch * 9_176_867 + index * 7919) % (2**63 - 1)


class SeededSampler(Sampler):
    def __init__(self, length: int, *, shuffle: bool, seed: int, rank: int = 0, world_size: int = 1,
                 pad: bool = True) -> None:
        self.length, self.shuffle, self.seed = length, shuffle, seed
        self.rank, self.world_size, self.pad = rank, world_size, pad
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _indices(self) -> list[int]:
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.length, generator=gen).tolist()
        else:
            order = list(range(self.length))
        if self.world_size > 1:
            if self.pad:
                total = -(-self.length // self.world_size) * self.world_size
                order = (order * (total // max(1, len(order)) + 1))[:total]
            order = order[self.rank::self.world_size]
        return order

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for i in self._indices():
            yield i, sample_seed(self.seed, self.epoch, i)

    def __len__(self) -> int:
        return len(self._indices())


# per-image targets whose length varies (detection boxes): kept as lists, never stacked, even when a
# batch happens to hold equal counts, so consumers always see the same type
LIST_KEYS = frozenset({"boxes", "classes"})


def collate(batch: list[tuple[torch.Tensor, dict[str, Any]]]) -> tuple[torch.Tensor, dict[str, Any]]:
    images = torch.stack([b[0] for b in batch])
    target: dict[str, Any] = {}
    for key in batch[0][1]:
        values = [b[1][key] for b in batch]
        if key in LIST_KEYS:
            target[key] = values
        else:
            target[key] = torch.stack(values) if isinstance(values[0], torch.Tensor) else torch.tensor(values)
    return images, target


def make_loader(dataset: Dataset, *, batch_size: int, shuffle: bool, seed: int, num_workers: int,
                rank: int = 0, world_size: int = 1, drop_last: bool = False) -> DataLoader:
    sampler = SeededSampler(len(dataset), shuffle=shuffle, seed=seed, rank=rank, world_size=world_size,
                            pad=shuffle)
    return DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers, collate_fn=collate,
        pin_memory=torch.cuda.is_available(),
        # persistent_workers requires workers (the reference crashes with num_workers: 0)
        persistent_workers=num_workers > 0, drop_last=drop_last,
    )


def iterate(loader: DataLoader) -> Iterator[Any]:
    """Iterate ``loader``; a UserError raised in a worker comes back wrapped in a multi-line
    traceback text, so keep only its own one-line message."""
    try:
        yield from loader
    except UserError as exc:
        text = str(exc)
        if "DataLoader worker" in text:
            last = text.strip().splitlines()[-1]
            raise UserError(last.split("UserError: ", 1)[-1]) from None
        raise
