"""Samplers and DataLoaders.

Our sampler yields ``(index, seed)`` pairs: the order is a permutation drawn from
``seed + epoch`` and each sample's augmentation seed is derived from (seed, epoch, index). Nothing
depends on global RNG state, worker count or which process ran earlier epochs, so a resumed run
sees exactly the batches an uninterrupted run would. In distributed runs it also shards like
``torch.utils.data.DistributedSampler`` (train: padded to equal length so every rank takes the same
number of steps; eval: no padding so reduced metrics count each sample exactly once).
"""
from __future__ import annotations

import re
from typing import Any, Iterator, Optional

import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from nptrain.data.seeded import BadSample
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
        self.skip = 0  # leading samples of this rank's epoch not to yield (a resume in the middle of an epoch)

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = epoch, skip

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
        for i in self._indices()[self.skip:]:
            yield i, sample_seed(self.seed, self.epoch, i)

    def __len__(self) -> int:
        return max(0, len(self._indices()) - self.skip)


# per-image targets whose length varies (detection boxes): kept as lists, never stacked, even when a
# batch happens to hold equal counts, so consumers always see the same type
LIST_KEYS = frozenset({"boxes", "classes"})


def collate(batch: list[Any]) -> tuple[Optional[torch.Tensor], dict[str, Any]]:
    """Images stacked, targets stacked or listed; samples skipped as unreadable (``BadSample``, under
    ``data.on_bad_file: skip``) leave the batch and are listed under ``bad_files`` (images None if all were)."""
    bad = [b.message for b in batch if isinstance(b, BadSample)]
    if bad:
        batch = [b for b in batch if not isinstance(b, BadSample)]
        if not batch:
            return None, {"bad_files": bad}
    images = torch.stack([b[0] for b in batch])
    target: dict[str, Any] = {"bad_files": bad} if bad else {}
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
        # the loader's own generator for its workers' base seed: iterating never draws from the global RNG,
        # so the global stream (dropout, drop path) is the same whether an epoch starts fresh or resumed
        generator=torch.Generator().manual_seed(seed),
    )


_WORKER = re.compile(r"DataLoader worker \(pids?(?:\(s\))? ([\d, ]+)\)\s*(exited unexpectedly|is killed by signal: ?([^.]*))")


def worker_death(exc: BaseException) -> Optional[str]:
    """``"worker (pid 123) was killed by signal Killed"``-style text when ``exc`` is PyTorch's report of a loader
    worker process that died, else None."""
    if not isinstance(exc, RuntimeError):
        return None
    match = _WORKER.search(str(exc))
    if not match:
        return None
    pids = match.group(1).strip().rstrip(",")
    how = f"was killed by signal {match.group(3).strip()}" if match.group(3) else "exited unexpectedly"
    return f"data loader worker (pid {pids}) {how}"


class LoaderWorkerDied(UserError):
    """A loader worker process died (killed, out of memory): ``what`` says which and how."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def iterate(loader: Any) -> Iterator[Any]:
    """Iterate ``loader`` (a DataLoader or an iterator of one); a UserError raised in a worker comes back
    wrapped in a multi-line traceback text, so keep only its own one-line message; a worker that died is
    a :class:`LoaderWorkerDied`."""
    try:
        yield from loader
    except UserError as exc:
        text = str(exc)
        if "DataLoader worker" in text:
            last = text.strip().splitlines()[-1]
            raise UserError(last.split("UserError: ", 1)[-1]) from None
        raise
    except RuntimeError as exc:
        died = worker_death(exc)
        if died is None:
            raise
        raise LoaderWorkerDied(died) from None
