"""The pretrained-regime proxy: one RGB ResNet-50 pretrained here, then the three detection-backbone
initialisations made from it with freqdet's own tools, each made once and found again on resume.

No ImageNet weights exist offline, so the proxy pretrains torchvision's RGB ResNet-50 on a task we do
have: classifying the photo patches (12 texture classes, one per mate-backgrounds photo; the
classification arms' folder) at ``Plan.pretrain_size`` px. It is another task than detection and
another image set than the detection scenes' (patches of whole photos, no shapes), so fine-tuning
detection from it is a transfer, as ImageNet -> COCO is, only much smaller.
"""
from __future__ import annotations

import os

from .arms import CONFIG, DetectorArm, Plan, recipe
from .running import run

__all__ = ["fit_summary", "init_weights", "pretrain_summary", "pretrained_classifier"]


def pretrain_dir(work: str) -> str:
    return os.path.join(work, "pretrain", "rgb_resnet50")


def pretrained_classifier(plan: Plan, work: str, patches: str, env: dict) -> str:
    """tools/train_classifier.py: the RGB ResNet-50 on the photo patches (seed 0); returns its checkpoint."""
    out = pretrain_dir(work)
    weights = os.path.join(out, "model_final.pth")
    if not os.path.isfile(weights):
        side = plan.pretrain_size
        run(["tools/train_classifier.py", "DATASETS.ROOT", patches, "OUTPUT_DIR", out, "SEED", 0,
             "MODEL.ARCH", "resnet50", "INPUT.SIZE", side, "INPUT.RESIZE", side,
             "SOLVER.MAX_ITER", plan.pretrain_iters, "SOLVER.IMS_PER_BATCH", plan.pretrain_batch,
             "SOLVER.WARMUP_EPOCHS", "1.0", "DATALOADER.NUM_WORKERS", "1", "PROGRESS", "False", "LOG_PERIOD", "20"],
            env)
    return weights


def init_weights(plan: Plan, arm: DetectorArm, work: str, patches: str, env: dict, stats_file: str) -> str:
    """The MODEL.WEIGHTS file of a pretrained ``arm``, by its ``init``: ``"rgb"`` (the classifier as a
    Detectron2 RGB backbone), ``"slice"`` (tools/convert_weights.py's paper mode: res2 keeps its first 24
    input channels) or ``"fit"`` (its fitted-stem mode on the study set's train images, for the arm's input
    and stem, with the arm's DCT statistics)."""
    kind = arm.init
    classifier = pretrained_classifier(plan, work, patches, env)
    path = os.path.join(work, "pretrain", f"backbone_{kind}.pkl")
    if os.path.isfile(path):
        return path
    if kind == "rgb":
        from freqdet.detection.weights import load_state_dict, save_detectron2_pkl, torchvision_to_detectron2

        save_detectron2_pkl(torchvision_to_detectron2(load_state_dict(classifier)), path)
    elif kind == "slice":
        run(["tools/convert_weights.py", classifier, "--channels", "24", "--output", path], env)
    elif kind == "fit":
        images = os.path.join(work, "datasets", "demo", "train")
        run(["tools/convert_weights.py", classifier, "--fit-stem", "--config-file", CONFIG, "--images", images,
             "--source-input", "torchvision", "--iterations", plan.fit_iterations, "--output", path,
             *recipe(plan, arm.size), *arm.opts, "MODEL.PIXEL_STATS_FILE", stats_file], env)
    else:
        raise ValueError(f"unknown initialisation {kind!r}")
    return path


def fit_summary(weights: str) -> dict:
    """The fitted stem's report (``<weights>.fit.json`` of tools/convert_weights.py) without its per-channel lists."""
    from .running import read_json

    report = read_json(os.path.splitext(weights)[0] + ".fit.json")
    return {"r2": {k: v for k, v in report["r2"].items() if not isinstance(v, (list, dict))},
            "images": report["images"] if not isinstance(report["images"], dict)
            else {k: v for k, v in report["images"].items() if not isinstance(v, list)},
            "iterations": report["iterations"], "seconds": report["seconds"]}


def pretrain_summary(plan: Plan, work: str) -> dict:
    """What the pretraining reached: its val top-1 on the photo patches (the task it was pretrained on)."""
    from .running import final_top1

    return {"task": "photo-patch texture classification (12 classes)", "arch": "resnet50 (RGB)",
            "size": plan.pretrain_size, "iters": plan.pretrain_iters, "batch": plan.pretrain_batch,
            "top1": final_top1(pretrain_dir(work), plan.pretrain_iters)}
