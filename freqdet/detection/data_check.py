"""Checks of a training dataset's dicts that Detectron2 does not make, reported once per dataset.

Detectron2's ``load_coco_json`` takes a box of zero or negative width or height as it is, and its
mapper then drops it (zero) or trains on its mirror image (negative: the transforms take the min/max
of the corners) without a word. Such boxes are mistakes of the tool that wrote the json; we say so,
naming the json file and the annotation ids, and leave the data as Detectron2 would use it.
"""
from __future__ import annotations

import json
import logging

from detectron2.structures import BoxMode

__all__ = ["check_training_datasets", "degenerate_boxes", "warn_degenerate_boxes"]
logger = logging.getLogger(__name__)

_SHOWN = 10  # annotations listed in one warning
_warned = set()  # (dataset name, json file): warned once per process


def degenerate_boxes(dicts) -> list[tuple[dict, dict]]:
    """``(image dict, annotation)`` of each axis-aligned box (XYWH_ABS or XYXY_ABS) whose width or height
    is not positive."""
    bad = []
    for d in dicts:
        for a in d.get("annotations", ()):
            box, mode = a.get("bbox"), a.get("bbox_mode", BoxMode.XYWH_ABS)
            if box is None or len(box) != 4:
                continue
            if mode == BoxMode.XYWH_ABS:
                w, h = box[2], box[3]
            elif mode == BoxMode.XYXY_ABS:
                w, h = box[2] - box[0], box[3] - box[1]
            else:
                continue
            if not (w > 0 and h > 0):
                bad.append((d, a))
    return bad


def _annotation_ids(json_file: str, bad) -> list:
    """The json's annotation id of each bad box (matched by image id and bbox; None when not found)."""
    from detectron2.utils.file_io import PathManager

    with PathManager.open(json_file) as f:
        anns = json.load(f).get("annotations", [])
    index = {}
    for a in anns:
        index.setdefault((a.get("image_id"), tuple(a.get("bbox") or ())), []).append(a.get("id"))
    return [(index.get((d.get("image_id"), tuple(a["bbox"]))) or [None])[0] for d, a in bad]


def warn_degenerate_boxes(dataset_name: str, dicts) -> int:
    """Log one warning (once per dataset and process) listing the boxes of non-positive size in ``dicts``,
    by json file and annotation id when the dataset's metadata names its json; returns their count."""
    from detectron2.data import MetadataCatalog

    bad = degenerate_boxes(dicts)
    json_file = MetadataCatalog.get(dataset_name).get("json_file")
    if not bad or (dataset_name, json_file) in _warned:
        return len(bad)
    _warned.add((dataset_name, json_file))
    if json_file:
        try:
            ids = _annotation_ids(json_file, bad[:_SHOWN])
        except (OSError, ValueError) as e:
            ids = [f"? ({type(e).__name__} reading the json)"] * min(len(bad), _SHOWN)
        where = f"{json_file} (dataset {dataset_name})"
        items = [f"annotation id {i} (image {d.get('file_name')}, bbox {list(a['bbox'])})"
                 for i, (d, a) in zip(ids, bad)]
    else:
        where = f"dataset {dataset_name}"
        items = [f"image {d.get('file_name')} annotation #{d['annotations'].index(a)} (bbox {list(a['bbox'])})"
                 for d, a in bad[:_SHOWN]]
    more = f", and {len(bad) - _SHOWN} more" if len(bad) > _SHOWN else ""
    logger.warning("%s: %d box%s of zero or negative width or height, which Detectron2 does not check (it drops "
                   "an empty box and trains on the mirror image of a negative one): %s%s. Fix or remove them "
                   "in the json.", where, len(bad), "" if len(bad) == 1 else "es", "; ".join(items), more)
    return len(bad)


def check_training_datasets(names) -> dict:
    """Load each training dataset's dicts once, warn about its degenerate boxes; returns name -> dicts
    (for the statistics step, so it does not load them again)."""
    from detectron2.data import DatasetCatalog

    out = {}
    for name in names:
        out[name] = DatasetCatalog.get(name)
        warn_degenerate_boxes(name, out[name])
    return out
