"""Per-channel DCT statistics of a registered Detectron2 dataset, measured through the training mapper,
and the identity a statistics file records so that no run normalizes with another dataset's numbers.

A file's identity (:func:`stats_identity`) is what its numbers depend on: the dataset (image count and
a fingerprint of its files' names and sizes), INPUT.DCT.UPSAMPLE, INPUT.DCT.FROM_SOURCE and the training
augmentation; the dataset's name, json file and INPUT.FORMAT are recorded too, for messages. The rule
for ``MODEL.PIXEL_STATS_FILE`` (:func:`ensure_dct_stats`): a matching file is used; a file
tools/train_net.py made itself (``"auto": true``) for other data is computed again in place, with a log
line naming what differed; a file the user made is refused, never overwritten.
"""
from __future__ import annotations

import copy
import dataclasses
import logging
import os
import re
from typing import Optional

import numpy as np

from freqdet.core.stats import (
    RunningMoments, StatsMismatchError, check_stats_file, files_fingerprint, save_dct_stats,
)

from .config import input_spec, train_augmentations

__all__ = ["DESCRIPTIVE_FIELDS", "augmentation_text", "check_stats_input", "dataset_dct_stats", "dataset_identity",
           "mapper_dct_stats",
           "ensure_dct_stats", "ensure_stats_file", "mapper_input_identity", "stats_identity"]
logger = logging.getLogger(__name__)

KEY = "MODEL.PIXEL_STATS_FILE"
# Recorded in a file's identity and shown in messages, but not compared: they do not change the numbers
# (a renamed or moved dataset keeps its fingerprint; the DCT is of YCbCr, the same from RGB and BGR reads).
DESCRIPTIVE_FIELDS = ("dataset.name", "dataset.json_file", "input_format")
FIX = ("delete it (tools/train_net.py then computes it for this run), recompute it with tools/compute_dct_stats.py, "
       f"or point {KEY} at another file")


def dataset_dct_stats(cfg, dataset_name: str, max_images: int = 0, seed: int = 0, dicts: Optional[list] = None):
    """``(channels, mean, std, num_images)`` of the DCT tensors the training mapper of
    ``cfg`` makes from a registered dataset (first ``max_images`` images if > 0).

    ``dicts``: the dataset's dicts when already loaded (else ``DatasetCatalog.get``)."""
    from .mapper import DCTDatasetMapper

    return mapper_dct_stats(DCTDatasetMapper(cfg, is_train=True), dataset_name, max_images, seed, dicts)


def mapper_dct_stats(mapper, dataset_name: str, max_images: int = 0, seed: int = 0, dicts: Optional[list] = None,
                     channels=None):
    """``(channels, mean, std, num_images)`` of the DCT tensors a training ``DCTDatasetMapper`` makes
    from a registered dataset (first ``max_images`` images if > 0): the statistics of any config
    kind (yacs or LazyConfig) whose mapper is given. ``dicts``: the dataset's dicts when already loaded;
    ``channels``: measure these instead of the mapper's (e.g. ``"192"``: one file for every subset)."""
    from detectron2.data import DatasetCatalog
    from tqdm import tqdm

    if dicts is None:
        dicts = DatasetCatalog.get(dataset_name)
    if max_images > 0:
        dicts = dicts[:max_images]
    if not dicts:
        raise ValueError(f"dataset {dataset_name!r} has no images")
    np.random.seed(seed)  # Detectron2's augmentations draw from NumPy's global generator
    # Statistics are of float32 coefficients, also when the model computes them (ON_DEVICE).
    spec = dataclasses.replace(mapper.input_spec, on_device=False, dtype="float32",
                               channels=mapper.input_spec.channels if channels is None else channels)
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
    if not used:
        raise ValueError(f"none of the {len(dicts)} images of {dataset_name!r} could be read "
                         "(DATALOADER.SKIP_UNREADABLE_IMAGES skipped them all; see the warnings above)")
    mean, std = moments.mean_std()
    return list(spec.channels), mean, std, used


# ---- Identity --------------------------------------------------------------------------------------

def augmentation_text(augmentations) -> str:
    """A stable text of an augmentation list: each class name with its public attributes (repr'd, memory
    addresses removed), e.g. ``ResizeShortestEdge(interp=..., max_size=1333, ...); RandomFlip(...)``."""
    parts = []
    for aug in augmentations:
        # input_args: which AugInput fields the augmentation reads, cached on it at its first call
        fields = ", ".join(f"{k}={v!r}" for k, v in sorted(vars(aug).items())
                           if not k.startswith("_") and k != "input_args")
        parts.append(f"{type(aug).__name__}({fields})")
    return re.sub(r" at 0x[0-9a-fA-F]+", "", "; ".join(parts))


def input_identity(cfg) -> dict:
    """The part of a statistics file's identity that the config alone fixes (the model build checks it)."""
    return _input_identity(input_spec(cfg), train_augmentations(cfg), cfg.INPUT.FORMAT)


def mapper_input_identity(mapper) -> dict:
    """:func:`input_identity` of a training ``DCTDatasetMapper`` (any config kind: yacs or LazyConfig)."""
    return _input_identity(mapper.input_spec, mapper.augmentations.augs, mapper.image_format)


def _input_identity(spec, augmentations, input_format: str) -> dict:
    return {"upsample": spec.upsample, "from_source": spec.from_source,
            "augmentation": augmentation_text(augmentations), "input_format": input_format}


def dataset_identity(dataset_name: str, dicts: Optional[list] = None) -> dict:
    """Name, json file (when the catalog's metadata has one), image count and :func:`files_fingerprint`
    of a registered dataset."""
    from detectron2.data import DatasetCatalog, MetadataCatalog

    if dicts is None:
        dicts = DatasetCatalog.get(dataset_name)
    json_file = MetadataCatalog.get(dataset_name).get("json_file")
    return {"name": dataset_name, "json_file": os.path.abspath(json_file) if json_file else None,
            "images": len(dicts), "fingerprint": files_fingerprint(d["file_name"] for d in dicts)}


def stats_identity(cfg, dataset_name: str, dicts: Optional[list] = None) -> dict:
    """What statistics of ``cfg``'s training input over ``dataset_name`` depend on (see the module doc)."""
    return {"dataset": dataset_identity(dataset_name, dicts), **input_identity(cfg)}


_WARNED_UNCHECKABLE = set()


def check_stats_input(cfg) -> None:
    """Refuse a MODEL.PIXEL_STATS_FILE measured with another s, FROM_SOURCE or training augmentation
    than ``cfg``'s (the model build's check; the dataset is checked by :func:`ensure_dct_stats`).

    A file without an identity (written before files recorded one, or by hand) is used with a warning,
    once per file. A missing file is left to :func:`freqdet.core.stats.load_dct_stats`'s error."""
    path = cfg.MODEL.PIXEL_STATS_FILE
    check = check_stats_file(path, input_identity(cfg), DESCRIPTIVE_FIELDS, KEY)
    if not check.exists:
        return
    if not check.checkable:
        if path not in _WARNED_UNCHECKABLE:
            _WARNED_UNCHECKABLE.add(path)
            logger.warning("%s=%r records no identity (it predates them, or was written by hand): it cannot be "
                           "checked against this run's dataset, s and augmentation and is used as it is; "
                           "recompute it with tools/compute_dct_stats.py to have it checked", KEY, path)
        return
    if check.differences:
        raise StatsMismatchError(check, KEY, FIX)


def ensure_dct_stats(cfg, dicts: Optional[list] = None, require_dataset: bool = True) -> Optional[str]:
    """Make sure ``MODEL.PIXEL_STATS_FILE`` holds the statistics of this run's training data; returns its
    path, or None when the config uses inline ``PIXEL_MEAN``/``PIXEL_STD``.

    On the main process (the others wait): the file's identity is compared with ``DATASETS.TRAIN[0]``
    and the config (:func:`stats_identity`). A match is used. A missing file, or one this function made
    (``"auto": true``) for other data, is computed (all 192 channels over the first
    ``MODEL.PIXEL_STATS_MAX_IMAGES`` images through the training mapper, with a progress bar, as
    ``tools/compute_dct_stats.py`` does) and written atomically at the configured path; the log says
    why. A file without the mark that differs raises :class:`StatsMismatchError` naming both sides and
    the fix. A file without an identity is used as it is (the model build warns).

    ``dicts``: ``DATASETS.TRAIN[0]``'s dataset dicts when already loaded. ``require_dataset`` False
    (evaluation): when the training dataset cannot be loaded, an existing file is used unchecked.
    """
    from .mapper import DCTDatasetMapper

    return ensure_stats_file(cfg.MODEL.PIXEL_STATS_FILE, KEY, lambda: DCTDatasetMapper(cfg, is_train=True),
                             cfg.DATASETS.TRAIN, cfg.MODEL.PIXEL_STATS_MAX_IMAGES, dicts, require_dataset,
                             max_images_key="MODEL.PIXEL_STATS_MAX_IMAGES")


def ensure_stats_file(path: str, key: str, build_mapper, train_datasets, max_images: int,
                      dicts: Optional[list] = None, require_dataset: bool = True,
                      max_images_key: str = "the cap") -> Optional[str]:
    """:func:`ensure_dct_stats` for any config kind: ``path`` is named ``key`` in messages, ``build_mapper()``
    gives the training ``DCTDatasetMapper``, ``train_datasets[0]`` is measured (first ``max_images``)."""
    from detectron2.utils import comm

    if not path:
        return None
    if comm.is_main_process():
        _ensure_on_main_process(path, key, build_mapper, list(train_datasets), max_images, dicts, require_dataset,
                                max_images_key)
    comm.synchronize()
    return path


def _ensure_on_main_process(path, key, build_mapper, train_datasets, max_images, dicts, require_dataset,
                            max_images_key) -> None:
    from detectron2.data import DatasetCatalog

    if not train_datasets:
        if os.path.exists(path):
            return  # no dataset to compare with; the model build checks s and the augmentation
        raise FileNotFoundError(f"{key}={path!r} does not exist and the config has no training dataset, "
                                "so it cannot be computed; run tools/compute_dct_stats.py")
    dataset = train_datasets[0]
    if dicts is None:
        try:
            dicts = DatasetCatalog.get(dataset)
        except Exception as e:
            if require_dataset or not os.path.exists(path):
                raise
            logger.warning("%s=%r is used without checking it against %s, whose dicts cannot be loaded (%s: %s)",
                           key, path, dataset, type(e).__name__, e)
            return
    mapper = build_mapper()
    identity = {"dataset": dataset_identity(dataset, dicts), **mapper_input_identity(mapper)}
    check = check_stats_file(path, identity, DESCRIPTIVE_FIELDS, key)
    if check.exists and not check.checkable:
        return  # an old file: used as it is, with the model build's warning
    if check.matches:
        logger.info("%s=%r matches this run (%s: %d images, fingerprint %s)", key, path, dataset, len(dicts),
                    check.expected["dataset.fingerprint"])
        return
    if check.exists and not check.auto:
        raise StatsMismatchError(check, key, FIX.replace(KEY, key))
    n = min(max_images, len(dicts)) if max_images > 0 else len(dicts)
    what = (f"the first {n} of the {len(dicts)} images" if n < len(dicts) else f"all {n} images") + f" of {dataset}"
    if max_images > 0:
        what += f" (at most {max_images}: {max_images_key})"
    if check.exists:
        logger.warning("%s=%r was computed automatically for other data than this run (%s): computing it again "
                       "over %s and replacing it", key, path, check.summary(), what)
    else:
        logger.warning("%s=%r does not exist: computing the DCT statistics of all 192 channels over %s and "
                       "caching them there", key, path, what)
    chans, mean, std, used = mapper_dct_stats(mapper, dataset, max_images, dicts=dicts, channels="192")
    save_dct_stats(path, chans, mean, std, identity=identity, auto=True,
                   dataset=dataset, num_images=used, upsample=mapper.input_spec.upsample,
                   input_format=mapper.image_format, config="computed by freqdet.detection.stats.ensure_stats_file")
    logger.info("wrote DCT statistics of %d images of %s to %s", used, dataset, path)
