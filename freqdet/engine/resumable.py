"""Training data as a function of (seed, position in the stream), so ``--resume`` continues it exactly.

Detectron2's :class:`TrainingSampler` restarts its shuffle when a run restarts, and its
augmentations draw from the worker's global NumPy state, so a resumed run sees other images
and other flips than the uninterrupted run would have. Here the ``p``-th training sample is
``map(dataset[perm_epoch[p % N]])`` with ``epoch = p // N``, the permutation drawn from
``(seed, epoch)`` and every random number of the mapping (NumPy, ``random``, torch CPU) from
``(seed, p)``; a restart at iteration ``i`` simply starts at position ``i * total_batch``. The
same holds for any number of loader workers and processes (positions are sharded by rank as
Detectron2's sampler shards indices).
"""
from __future__ import annotations

import contextlib
import itertools
import random

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

__all__ = ["PositionDataset", "PositionSampler", "ResumableTrainerMixin", "get_rng_state", "set_rng_state"]


class PositionSampler(Sampler):
    """Infinite positions ``start + rank, start + rank + world, ...`` for this process.

    ``start`` (a position, i.e. ``iteration * total_batch``) may be changed until the loader is
    iterated: the trainer sets it after loading a checkpoint.
    """

    def __init__(self, start: int = 0, rank: int | None = None, world_size: int | None = None):
        from detectron2.utils import comm

        self.start = int(start)
        self.rank = comm.get_rank() if rank is None else rank
        self.world_size = comm.get_world_size() if world_size is None else world_size

    def __iter__(self):
        yield from itertools.count(self.start + self.rank, self.world_size)


@contextlib.contextmanager
def _seeded(*key: int):
    """Seed NumPy's, ``random``'s and torch's (CPU) global generators from ``key``; restore them after."""
    np_state, py_state, torch_state = np.random.get_state(), random.getstate(), torch.random.get_rng_state()
    seed = np.random.SeedSequence([k & 0xFFFFFFFF for k in key]).generate_state(1)[0]
    np.random.seed(int(seed))
    random.seed(int(seed))
    torch.manual_seed(int(seed))
    try:
        yield
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
        torch.random.set_rng_state(torch_state)


class PositionDataset(Dataset):
    """Item ``p`` is ``map_func(dataset[i])`` for the ``p``-th index of a seeded shuffled stream.

    ``map_func`` may return None (an unreadable image): another index, also drawn from
    ``(seed, p)``, is used instead, as Detectron2's MapDataset does. ``seed`` may be changed until the
    loader is iterated (the trainer restores the checkpoint's).
    """

    def __init__(self, dataset, map_func=None, seed: int = 0, shuffle: bool = True, max_retries: int = 100):
        self.dataset = dataset
        self.map_func = map_func
        self.seed = int(seed)
        self.shuffle = shuffle
        self.max_retries = max_retries
        self._perm = (None, None)  # (epoch, permutation) of the last epoch used

    def __len__(self) -> int:
        return len(self.dataset)

    def index(self, position: int) -> int:
        """The dataset index at stream ``position``."""
        n = len(self.dataset)
        epoch, k = divmod(int(position), n)
        if not self.shuffle:
            return k
        if self._perm[0] != (self.seed, epoch):
            self._perm = ((self.seed, epoch), np.random.default_rng([self.seed & 0xFFFFFFFF, epoch]).permutation(n))
        return int(self._perm[1][k])

    def __getitem__(self, position: int):
        idx = self.index(position)
        for attempt in range(self.max_retries):
            with _seeded(self.seed, int(position), attempt):
                if attempt:
                    idx = random.randrange(len(self.dataset))
                item = self.dataset[idx]
                out = self.map_func(item) if self.map_func is not None else item
            if out is not None:
                return out
        raise RuntimeError(f"{self.max_retries} items in a row could not be mapped at stream position {position}")


def get_rng_state() -> dict:
    """Global torch generator states (CPU, and every CUDA device when present), weights-only loadable."""
    state = {"cpu": torch.random.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.random.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class ResumableTrainerMixin:
    """For a Detectron2 ``TrainerBase`` whose loader is a :class:`PositionDataset` (``self.train_data``,
    None for other loaders) fed by a :class:`PositionSampler` (``self.train_sampler``), with
    ``self.total_batch`` images per iteration over all processes."""

    def state_dict(self):
        ret = super().state_dict()
        ret["rng"] = get_rng_state()
        if getattr(self, "train_data", None) is not None:
            ret["data_seed"] = self.train_data.seed
        return ret

    def load_state_dict(self, state):
        super().load_state_dict(state)
        if "rng" in state:
            set_rng_state(state["rng"])
        if "data_seed" in state and getattr(self, "train_data", None) is not None:
            self.train_data.seed = int(state["data_seed"])

    def resume_or_load(self, resume: bool = True):
        super().resume_or_load(resume=resume)
        if getattr(self, "train_sampler", None) is not None:
            self.train_sampler.start = self.start_iter * self.total_batch  # where the data stream was
