"""COCO evaluation of ground truth written by any tool, not only by COCO's own scripts.

pycocotools' COCOeval reads every ground-truth annotation's ``area`` (for the small/medium/large
ranges) and ``iscrowd``; json files made by other labelling tools often leave them out, and
Detectron2's :class:`COCOEvaluator` then stops with a bare ``KeyError: 'area'``. The missing
values are filled in as Detectron2's own ``convert_to_coco_json`` computes them.
"""
from __future__ import annotations

from detectron2.evaluation import COCOEvaluator as _D2COCOEvaluator
from pycocotools import mask as mask_util

__all__ = ["COCOEvaluator", "complete_coco_ground_truth"]


def complete_coco_ground_truth(coco) -> int:
    """Give every annotation of a pycocotools ``COCO`` an ``area`` (of its mask, else its box) and
    an ``iscrowd`` (0); returns how many annotations lacked ``area``."""
    filled = 0
    for ann in coco.dataset.get("annotations", []):
        ann.setdefault("iscrowd", 0)
        if "area" in ann:
            continue
        if ann.get("segmentation"):
            ann["area"] = float(mask_util.area(coco.annToRLE(ann)))
        else:
            ann["area"] = float(ann["bbox"][2] * ann["bbox"][3])
        filled += 1
    if filled:
        coco.createIndex()
    return filled


class COCOEvaluator(_D2COCOEvaluator):
    """Detectron2's COCOEvaluator, with ground truth lacking ``area``/``iscrowd`` completed first."""

    def __init__(self, dataset_name, *args, **kwargs):
        super().__init__(dataset_name, *args, **kwargs)
        n = complete_coco_ground_truth(self._coco_api)
        if n:
            self._logger.warning("%s: %d ground-truth annotations have no 'area'; using the area of their "
                                 "mask (or box), as Detectron2's convert_to_coco_json does", dataset_name, n)
