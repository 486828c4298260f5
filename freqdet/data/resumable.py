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

__all__ = ["PositionDataset", "PositionSampler", "build_resumable_detection_train_loader"]


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


def build_resumable_detection_train_loader(cfg, mapper, seed: int):
    """Detectron2's training loader for ``cfg`` (same dataset dicts, batching, aspect grouping, workers)
    with :class:`PositionDataset`/:class:`PositionSampler` in place of MapDataset/TrainingSampler.

    Returns ``(loader, dataset, sampler)``; set ``sampler.start`` and ``dataset.seed`` before the first
    iteration to resume. Exact continuation also needs the aspect-ratio buckets empty at the restart
    (always true when all images share one aspect class, or without DATALOADER.ASPECT_RATIO_GROUPING).
    """
    from detectron2.data import DatasetFromList, build_detection_train_loader, get_detection_dataset_dicts

    dicts = get_detection_dataset_dicts(
        cfg.DATASETS.TRAIN,
        filter_empty=cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS,
        min_keypoints=cfg.MODEL.ROI_KEYPOINT_HEAD.MIN_KEYPOINTS_PER_IMAGE if cfg.MODEL.KEYPOINT_ON else 0,
        proposal_files=cfg.DATASETS.PROPOSAL_FILES_TRAIN if cfg.MODEL.LOAD_PROPOSALS else None,
    )
    dataset = PositionDataset(DatasetFromList(dicts, copy=False), mapper, seed)
    sampler = PositionSampler()
    loader = build_detection_train_loader(
        dataset=dataset, mapper=None, sampler=sampler, total_batch_size=cfg.SOLVER.IMS_PER_BATCH,
        aspect_ratio_grouping=cfg.DATALOADER.ASPECT_RATIO_GROUPING, num_workers=cfg.DATALOADER.NUM_WORKERS,
        seed=seed,  # the loader's own generator: creating its iterator draws nothing from the global RNG
    )
    return loader, dataset, sampler
