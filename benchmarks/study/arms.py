"""What the study compares: its plan and arms, kept apart from how they are run so that the runs,
the cost and the tests all read the same definitions."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import NamedTuple

from freqdet.detection.config import fpn_feature_opts

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = "configs/Demo/mask_rcnn_dct24_R_50_FPN_demo.yaml"
# The study set is written as <work>/datasets/demo and reached, in every subprocess, through the
# demo's builtin names with FREQDET_DATASETS=<work>/datasets (freqdet/synthetic/register.py registers them).
DATASETS = ("freqdet_demo_train", "freqdet_demo_val")
# CONFIG is s=1 (FPN levels p3..p7, named by stride); s=2 and RGB have p2..p6, so the heads read those.
S2 = fpn_feature_opts(2)
RGB = ["MODEL.META_ARCHITECTURE", "GeneralizedRCNN", "MODEL.BACKBONE.NAME", "build_resnet_fpn_backbone",
       "INPUT.DCT.ON_DEVICE", "True",  # the DCT mapper then hands Detectron2's uint8 image, as DatasetMapper
       "MODEL.PIXEL_STATS_FILE", "", "MODEL.PIXEL_MEAN", "[103.53,116.28,123.675]",
       "MODEL.PIXEL_STD", "[57.375,57.12,58.395]", *S2]
# The demo gate's settings (configs/Demo/mask_rcnn_dct192_gate_R_50_FPN_demo.yaml says why), on dct192_s2_R.
GATE = ["MODEL.FREQ_GATE.ENABLED", "True", "MODEL.FREQ_GATE.LAMBDA", "0.5", "MODEL.FREQ_GATE.LAMBDA_WARMUP_ITERS", "30",
        "MODEL.FREQ_GATE.GRAD_SCALE", "100.0", "MODEL.FREQ_GATE.TAU", "2.0", "MODEL.FREQ_GATE.TAU_MIN", "0.5"]


@dataclass
class Schedule:
    """One task's data and training schedule: detection and classification each have their own."""
    train: int    # training images (detection) / patches per class (classification)
    val: int
    iters: int
    batch: int


@dataclass
class Plan:
    """Sizes and schedules of one study (the defaults; :func:`quick_plan` shrinks them)."""
    size: int = 192           # R: train/test short = long side of the square scenes after resizing
    scene: int = 384          # side of the generated JPEGs (source pixels): 2R, so s=2 FROM_SOURCE sees them 1:1
    seeds: list = field(default_factory=lambda: [1, 2, 3])
    detection: Schedule = field(default_factory=lambda: Schedule(train=300, val=100, iters=300, batch=2))
    cls_size: int = 128       # DCT classifier input; RGB gets cls_size / 4
    classification: Schedule = field(default_factory=lambda: Schedule(train=60, val=20, iters=300, batch=32))
    stats_images: int = 100

    def to_json(self) -> dict:
        """The flat keys "plan" has always had in docs/study.json."""
        det, cls = self.detection, self.classification
        return {"size": self.size, "scene": self.scene, "num_train": det.train, "num_val": det.val,
                "iters": det.iters, "batch": det.batch, "seeds": self.seeds, "cls_size": self.cls_size,
                "cls_train": cls.train, "cls_val": cls.val, "cls_iters": cls.iters, "cls_batch": cls.batch,
                "stats_images": self.stats_images}


def quick_plan() -> Plan:
    """``--quick``: tiny data and 2 iterations, seed 1; checks the pipeline, measures nothing."""
    return Plan(size=64, scene=128, seeds=[1], detection=Schedule(train=4, val=2, iters=2, batch=2),
                cls_size=64, classification=Schedule(train=2, val=1, iters=2, batch=4), stats_images=4)


class DetectorArm(NamedTuple):
    opts: list    # config overrides on top of the recipe
    size: int     # the image side it trains and tests at


class ClassifierArm(NamedTuple):
    arch: str             # a freqdet.classification.models name
    side: int             # the patch is resized to side x side px (the whole patch: same field of view)
    input_shape: tuple    # what the network sees: RGB pixels, or 24 DCT channels on the 8x8-block grid


def detection_arms(plan: Plan) -> dict:
    """arm -> :class:`DetectorArm`. Everything else is the shared :func:`recipe`."""
    R = plan.size
    dct_s2 = lambda ch: ["INPUT.DCT.CHANNELS", f'["{ch}"]', "INPUT.DCT.UPSAMPLE", "2", *S2]
    return {
        "rgb_R": DetectorArm(RGB, R),
        "dct24_s2_R": DetectorArm(dct_s2("24"), R),
        "dct24_s1_2R": DetectorArm(["INPUT.DCT.CHANNELS", '["24"]', "INPUT.DCT.UPSAMPLE", "1"], 2 * R),
        "dct6_s2_R": DetectorArm(dct_s2("6"), R),
        "dct64_s2_R": DetectorArm(dct_s2("64"), R),
        "dct192_s2_R": DetectorArm(dct_s2("192"), R),
        "dct24_s2_R_src": DetectorArm(dct_s2("24") + ["INPUT.DCT.FROM_SOURCE", "True"], R),
    }


def classification_arms(plan: Plan) -> dict:
    """arm -> :class:`ClassifierArm`: RGB at size/4 vs DCT-24 at size, equal feature sizes (MobileNetV2's
    stride-2 first conv vs the stride-8 DCT grid)."""
    rgb, dct = plan.cls_size // 4, plan.cls_size
    return {"cls_rgb": ClassifierArm("mobilenet_v2", rgb, (3, rgb, rgb)),
            "cls_dct24": ClassifierArm("mobilenet_v2_dct", dct, (24, dct // 8, dct // 8))}


def recipe(plan: Plan, size: int) -> list:
    """The schedule and sizes every detection arm shares (Faster R-CNN: bbox AP is the measure)."""
    det = plan.detection
    steps = sorted({min(det.iters - 1, max(1, int(det.iters * f))) for f in (0.75, 0.9)})
    steps = "(" + ",".join(map(str, steps)) + ",)"
    return ["MODEL.MASK_ON", "False", "DATASETS.TRAIN", f'("{DATASETS[0]}",)', "DATASETS.TEST", f'("{DATASETS[1]}",)',
            "INPUT.MIN_SIZE_TRAIN", f"({size},)", "INPUT.MAX_SIZE_TRAIN", str(size),
            "INPUT.MIN_SIZE_TEST", str(size), "INPUT.MAX_SIZE_TEST", str(size),
            # objects ~5..30 px at R: anchors scale with the image (at 2R the objects are twice as large;
            # R's anchors there would sit on twice-as-coarse levels, relative to the object)
            "MODEL.ANCHOR_GENERATOR.SIZES", str([[a * size // plan.size] for a in (8, 16, 32, 64, 128)]).replace(" ", ""),
            "SOLVER.MAX_ITER", str(det.iters), "SOLVER.STEPS", steps, "SOLVER.IMS_PER_BATCH", str(det.batch),
            "SOLVER.WARMUP_ITERS", str(max(1, min(50, det.iters // 4))),
            "SOLVER.CHECKPOINT_PERIOD", "1000000",  # model_final only (disk)
            "TEST.EVAL_PERIOD", "0", "TEST.DETECTIONS_PER_IMAGE", "100"]
