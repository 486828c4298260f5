"""The study's data, written once under the work folder and found again on resume: the detection set
(regenerated only when its plan changed) and the classification photo patches."""
from __future__ import annotations

import os

from .arms import DATASETS, Plan

# Scene parameters of the study set: small objects whose five classes differ in fine texture as well as
# shape and colour, on Debian's mate-backgrounds photos (freqdet/synthetic/ says what each one does).
SCENES = dict(radius_range=(0.02, 0.07), period_range=(2, 4), backgrounds="mate", max_instances=10)


def prepare_data(plan: Plan, root: str) -> dict:
    """The study set (once) under ``root``; returns its paths by split. Needs mate-backgrounds."""
    from freqdet.synthetic import coco_writer

    paths = {}
    for split, n in zip(coco_writer.SPLITS, (plan.detection.train, plan.detection.val)):
        p = coco_writer.split_paths(root, split)
        try:
            params = coco_writer.read_demo_json(p["json_file"])["info"]["params"]
        except (FileNotFoundError, ValueError):
            params = {}
        if params.get("num_images") != n or params.get("image_size") != [plan.scene] * 2:
            p = coco_writer.generate_split(root, split, n, plan.scene, seed=0, **SCENES)
        paths[split] = p
    return paths


def register(root: str) -> None:
    """Point the builtin demo names at the study set in this process (subprocesses: FREQDET_DATASETS)."""
    from freqdet.synthetic.register import register_demo_datasets

    register_demo_datasets(root, names=DATASETS)


def prepare_patches(plan: Plan, work: str) -> str:
    """The classification arms' image folder of photo patches (once); returns its root."""
    from freqdet.synthetic.photo_patches import write_patch_folder

    return write_patch_folder(os.path.join(work, "patches"), plan.classification.train, plan.classification.val,
                              plan.cls_size)
