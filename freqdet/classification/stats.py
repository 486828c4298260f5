"""Per-channel mean/std of DCT coefficients over an ImageFolder, cached to JSON.

The file format and the accumulator are the detection side's (:mod:`freqdet.core.stats`,
keyed by channel index), so one statistics file format serves detectors and classifiers.
All 192 channels are measured once (validation geometry: Resize + CenterCrop), so one
cache file serves every channel subset. Coefficient scales differ by orders of magnitude
between the DC and high frequencies, so normalisation must come from data, not a guess.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Optional

import numpy as np
import torch
from tqdm import tqdm

from freqdet.core.stats import (
    RunningMoments, StatsMismatchError, check_stats_file, files_fingerprint, load_dct_stats, save_dct_stats,
)
from freqdet.core import NUM_CHANNELS
from freqdet.core.channels import ChannelSpec
from .data import NoneIfUnreadable, drop_none_collate, image_folder
from .transforms import DCT_SIZE, build_transform, default_resize

__all__ = ["MIN_STD", "cached_image_folder_stats", "image_folder_dct_stats", "image_folder_stats_identity",
           "load_dct_stats"]

# Floor of the std used for normalisation, in DCT coefficient units (JPEG quantisation steps
# are >= 1). Channels that are (nearly) constant over the data, e.g. the chroma of greyscale
# images, would otherwise be divided by ~0 and turn rounding noise into huge inputs.
MIN_STD = 1.0
logger = logging.getLogger(__name__)


def image_folder_dct_stats(root: str, size: int = DCT_SIZE, resize: Optional[int] = None,
                      max_images: Optional[int] = None, num_workers: int = 0, seed: int = 0,
                      progress: bool = True, skip_unreadable: bool = False) -> tuple[np.ndarray, np.ndarray, int]:
    """``(mean, std, num_images)`` of the 192 channels over (a seeded random subset of) ``root``.

    ``skip_unreadable``: images that cannot be decoded are logged and left out (else: the error)."""
    resize = resize or default_resize(size)
    dataset = image_folder(root, build_transform("dct", train=False, size=size, resize=resize, channels="192"))
    indices = np.arange(len(dataset))
    if max_images and max_images < len(indices):
        indices = np.sort(np.random.default_rng(seed).choice(indices, max_images, replace=False))
    source = NoneIfUnreadable(dataset) if skip_unreadable else dataset
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(source, indices.tolist()), batch_size=16,
                                         num_workers=num_workers, collate_fn=drop_none_collate)
    moments = RunningMoments(NUM_CHANNELS)
    used = 0
    for batch in tqdm(loader, desc=f"DCT statistics of {root}", unit="batch", disable=not progress):
        if batch is None:  # every image of this batch was unreadable
            continue
        images = batch[0]
        # (N, C, h, w) -> (C, N*h*w): one update per batch.
        moments.update(images.transpose(0, 1).reshape(NUM_CHANNELS, -1).numpy())
        used += images.shape[0]
    mean, std = moments.mean_std()
    return mean, std, used



KEY = "MODEL.PIXEL_STATS_FILE"
# Recorded for messages, not compared: a moved or copied image folder keeps its fingerprint.
DESCRIPTIVE_FIELDS = ("dataset.root",)


def image_folder_stats_identity(root: str, size: int = DCT_SIZE, resize: Optional[int] = None) -> dict:
    """What statistics of ``root`` depend on: its images (count and a fingerprint of their names and
    sizes, :func:`freqdet.core.stats.files_fingerprint`) and the geometry (crop ``size``, ``resize``)."""
    samples = image_folder(root).samples
    return {"dataset": {"root": os.path.abspath(root), "images": len(samples),
                        "fingerprint": files_fingerprint(p for p, _ in samples)},
            "size": size, "resize": resize or default_resize(size), "upsample": 1}


def cached_image_folder_stats(path: str, root: str, channels: ChannelSpec = "24", size: int = DCT_SIZE,
              resize: Optional[int] = None, max_images: Optional[int] = None, num_workers: int = 0,
              progress: bool = True, skip_unreadable: bool = False, key: str = KEY) -> tuple[list[float], list[float]]:
    """Cached ``(mean, std)`` of ``channels``: read ``path`` if it describes ``root`` at this geometry, else
    compute and write it.

    The file records its identity (:func:`image_folder_stats_identity`) and ``"auto": true``. A file made
    here for other images or another geometry is computed again (logged, naming what differed); a file
    without the mark (made by hand) that differs raises :class:`StatsMismatchError`; a file from before
    identities is used when its geometry matches (with a warning that its images cannot be checked).
    The std is floored at :data:`MIN_STD` (recorded as ``std_floor`` in the file). ``key``: the config
    key named in messages.
    """
    resize = resize or default_resize(size)
    identity = image_folder_stats_identity(root, size, resize)
    check = check_stats_file(path, identity, DESCRIPTIVE_FIELDS, key)
    if check.exists and not check.checkable:
        with open(path, encoding="utf-8") as f:
            cached = json.load(f)
        if (cached.get("size"), cached.get("resize")) == (size, resize):
            logger.warning("%s=%r records no identity (it predates them): it cannot be checked against the "
                           "images of %s and is used as it is; delete it to have it recomputed", key, path, root)
            return _floored(load_dct_stats(path, channels, upsample=1, key=key))
        logger.warning("DCT statistics %s were made for crop %s / resize %s, not %s / %s: recomputing",
                       path, cached.get("size"), cached.get("resize"), size, resize)
    elif check.matches:
        return _floored(load_dct_stats(path, channels, upsample=1, key=key))
    elif check.exists and not check.auto:
        raise StatsMismatchError(check, key, f"delete it (training then computes it for these images) or point "
                                             f"{key} at another file")
    elif check.exists:
        logger.warning("%s=%r was computed automatically for other images or geometry (%s): computing it again",
                       key, path, check.summary())
    mean, std, n = image_folder_dct_stats(root, size, resize, max_images, num_workers, progress=progress,
                                          skip_unreadable=skip_unreadable)
    save_dct_stats(path, list(range(NUM_CHANNELS)), mean, np.maximum(std, MIN_STD), identity=identity, auto=True,
                   root=os.path.abspath(root), size=size, resize=resize, num_images=n, upsample=1, input_format="RGB",
                   std_floor=MIN_STD)
    logger.info("wrote DCT statistics of %d images to %s", n, path)
    return _floored(load_dct_stats(path, channels, upsample=1, key=key))


def _floored(stats):
    mean, std = stats
    return mean, [max(s, MIN_STD) for s in std]
