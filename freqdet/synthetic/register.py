"""The builtin demo dataset names in Detectron2's catalogs (paths only: nothing is read until used)."""
from __future__ import annotations

import functools
import logging

from .coco_writer import SPLITS, THING_CLASSES, default_demo_root, read_demo_json, split_paths

logger = logging.getLogger(__name__)


BUILTIN_NAMES = ("freqdet_demo_train", "freqdet_demo_val")


def load_demo_json(json_file, image_root, dataset_name=None) -> list:
    """Detectron2 dataset dicts of a demo split: checks the file, then ``load_coco_json``."""
    from detectron2.data.datasets import load_coco_json

    read_demo_json(json_file)
    return load_coco_json(str(json_file), str(image_root), dataset_name)


def register_split(name: str, json_file: str, image_root: str) -> None:
    """Register one split like ``register_coco_instances``, but idempotently and with checked loading.

    Re-registering the same paths is a no-op; other paths replace the old entry (a user
    pointing the demo names at a new root). Nothing is read until ``DatasetCatalog.get``.
    """
    from detectron2.data import DatasetCatalog, MetadataCatalog

    json_file, image_root = str(json_file), str(image_root)
    if name in DatasetCatalog.list():
        meta = MetadataCatalog.get(name)
        if meta.get("json_file") == json_file and meta.get("image_root") == image_root:
            return
        logger.info("Re-registering %s at %s", name, json_file)
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    DatasetCatalog.register(name, functools.partial(load_demo_json, json_file, image_root, name))
    MetadataCatalog.get(name).set(json_file=json_file, image_root=image_root, evaluator_type="coco",
                                  thing_classes=list(THING_CLASSES))


def register_demo_datasets(root=None, names=BUILTIN_NAMES) -> dict:
    """Register the (train, val) demo splits under ``root`` as ``names``; returns name -> paths."""
    root = default_demo_root() if root is None else str(root)
    out = {}
    for name, split in zip(names, SPLITS, strict=True):
        paths = split_paths(root, split)
        register_split(name, paths["json_file"], paths["image_root"])
        out[name] = paths
    return out
