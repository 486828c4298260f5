"""Per-channel DCT statistics of a registered Detectron2 dataset, measured through the training mapper."""
from __future__ import annotations

import copy
import dataclasses
import logging
import os
from typing import Optional

import numpy as np

from freqdet.core.stats import RunningMoments, save_dct_stats

logger = logging.getLogger(__name__)


def dataset_dct_stats(cfg, dataset_name: str, max_images: int = 0, seed: int = 0):
    """``(channels, mean, std, num_images)`` of the DCT tensors the training mapper of
    ``cfg`` makes from a registered dataset (first ``max_images`` images if > 0)."""
    from .mapper import DCTDatasetMapper

    return mapper_dct_stats(DCTDatasetMapper(cfg, is_train=True), dataset_name, max_images, seed)


def mapper_dct_stats(mapper, dataset_name: str, max_images: int = 0, seed: int = 0):
    """``(channels, mean, std, num_images)`` of the DCT tensors a training ``DCTDatasetMapper`` makes
    from a registered dataset (first ``max_images`` images if > 0): the statistics of any config
    kind (yacs or LazyConfig) whose mapper is given."""
    from detectron2.data import DatasetCatalog
    from tqdm import tqdm

    dicts = DatasetCatalog.get(dataset_name)
    if max_images > 0:
        dicts = dicts[:max_images]
    if not dicts:
        raise ValueError(f"dataset {dataset_name!r} has no images")
    np.random.seed(seed)  # Detectron2's augmentations draw from NumPy's global generator
    # Statistics are of float32 coefficients, also when the model computes them (ON_DEVICE).
    spec = dataclasses.replace(mapper.input_spec, on_device=False, dtype="float32")
    mapper = copy.copy(mapper)
    mapper.input_spec = spec
    moments = RunningMoments(spec.num_channels)
    used = 0
    for d in tqdm(dicts, desc=f"DCT stats {dataset_name}", unit="img"):
        d = {k: v for k, v in d.items() if k != "annotations"}  # only the image matters here
        out = mapper(d)
        if out is None:  # unreadable, DATALOADER.SKIP_UNREADABLE_IMAGES: the mapper logged it
            continue
        moments.update(out["image"].numpy())
        used += 1
    mean, std = moments.mean_std()
    return list(spec.channels), mean, std, used


def ensure_dct_stats(cfg) -> Optional[str]:
    """Compute and cache ``MODEL.PIXEL_STATS_FILE`` when it does not exist yet (what classification does).

    The main process measures all 192 channels over the first ``MODEL.PIXEL_STATS_MAX_IMAGES`` images
    of ``DATASETS.TRAIN[0]`` through the training mapper (``tools/compute_dct_stats.py``'s defaults, with
    a progress bar) and writes the file; the other processes wait for it. Returns the path, or None
    when the config uses inline ``PIXEL_MEAN``/``PIXEL_STD``. An existing file is left alone (and
    checked at model build).
    """
    from detectron2.utils import comm

    path = cfg.MODEL.PIXEL_STATS_FILE
    if not path:
        return None
    if not os.path.exists(path) and comm.is_main_process():
        if not cfg.DATASETS.TRAIN:
            raise FileNotFoundError(f"MODEL.PIXEL_STATS_FILE={path!r} does not exist and DATASETS.TRAIN is empty, "
                                    "so it cannot be computed; run tools/compute_dct_stats.py")
        dataset = cfg.DATASETS.TRAIN[0]
        max_images = cfg.MODEL.PIXEL_STATS_MAX_IMAGES
        logger.warning("MODEL.PIXEL_STATS_FILE=%r does not exist: computing the DCT statistics of all 192 channels "
                       "over %s images of %s (MODEL.PIXEL_STATS_MAX_IMAGES) and caching them there",
                       path, max_images or "all", dataset)
        full = cfg.clone()
        full.defrost()
        full.INPUT.DCT.CHANNELS = ["192"]
        chans, mean, std, n = dataset_dct_stats(full, dataset, max_images)
        save_dct_stats(path, chans, mean, std, dataset=dataset, num_images=n, upsample=cfg.INPUT.DCT.UPSAMPLE,
                       input_format=cfg.INPUT.FORMAT, config="computed by freqdet.detection.stats.ensure_dct_stats")
        logger.info("wrote DCT statistics of %d images of %s to %s", n, dataset, path)
    comm.synchronize()
    return path
