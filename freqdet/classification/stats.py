"""Per-channel mean/std of DCT coefficients over an ImageFolder, cached to JSON.

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

from ..dct import NUM_CHANNELS, parse_channels
from ..dct.channels import ChannelSpec
from .data import image_folder
from .transforms import DCT_SIZE, build_transform, default_resize

__all__ = ["compute_dct_stats", "load_dct_stats", "dct_stats"]
logger = logging.getLogger(__name__)


def compute_dct_stats(root: str, size: int = DCT_SIZE, resize: Optional[int] = None,
                      max_images: Optional[int] = None, num_workers: int = 0, seed: int = 0,
                      progress: bool = True) -> dict:
    """Mean and std of each of the 192 channels over (a random subset of) ``root``'s images."""
    resize = resize or default_resize(size)
    dataset = image_folder(root, build_transform("dct", train=False, size=size, resize=resize, channels="192"))
    indices = np.arange(len(dataset))
    if max_images and max_images < len(indices):
        indices = np.sort(np.random.default_rng(seed).choice(indices, max_images, replace=False))
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, indices.tolist()),
                                         batch_size=16, num_workers=num_workers)
    total = torch.zeros(NUM_CHANNELS, dtype=torch.float64)
    total_sq = torch.zeros(NUM_CHANNELS, dtype=torch.float64)
    count = 0
    for images, _ in tqdm(loader, desc=f"DCT statistics of {root}", unit="batch", disable=not progress):
        x = images.double()
        total += x.sum(dim=(0, 2, 3))
        total_sq += (x * x).sum(dim=(0, 2, 3))
        count += x.shape[0] * x.shape[2] * x.shape[3]
    mean = total / count
    std = (total_sq / count - mean * mean).clamp_min(0).sqrt().clamp_min(1e-6)
    return {"root": os.path.abspath(root), "size": size, "resize": resize, "num_images": len(indices),
            "channels": list(range(NUM_CHANNELS)), "mean": mean.tolist(), "std": std.tolist()}


def load_dct_stats(path: str, channels: ChannelSpec = "24") -> tuple[list[float], list[float]]:
    """``(mean, std)`` of the selected channels from a statistics JSON file."""
    try:
        with open(path, encoding="utf-8") as f:
            stats = json.load(f)
        mean, std, chans = stats["mean"], stats["std"], stats["channels"]
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"cannot read DCT statistics from {path}: {e!r}") from e
    where = {c: i for i, c in enumerate(chans)}
    missing = [c for c in parse_channels(channels) if c not in where]
    if missing:
        raise ValueError(f"DCT statistics {path} lack channels {missing}")
    sel = [where[c] for c in parse_channels(channels)]
    return [mean[i] for i in sel], [std[i] for i in sel]


def dct_stats(path: str, root: str, channels: ChannelSpec = "24", size: int = DCT_SIZE,
              resize: Optional[int] = None, max_images: Optional[int] = None,
              num_workers: int = 0) -> tuple[list[float], list[float]]:
    """Cached statistics: read ``path`` if it was made with the same geometry, else compute and write it."""
    resize = resize or default_resize(size)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            cached = json.load(f)
        if (cached.get("size"), cached.get("resize")) == (size, resize):
            return load_dct_stats(path, channels)
        logger.warning("DCT statistics %s were made for size %s/%s, not %s/%s: recomputing",
                       path, cached.get("size"), cached.get("resize"), size, resize)
    stats = compute_dct_stats(root, size, resize, max_images, num_workers)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(stats, f)
    os.replace(tmp, path)
    logger.info("wrote DCT statistics of %d images to %s", stats["num_images"], path)
    return load_dct_stats(path, channels)
