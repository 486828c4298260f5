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
# The gated twin is evaluated under each inference rule (MODEL.FREQ_GATE.INFERENCE): the deterministic
# default, the paper's sampled mask, and "on > off", which switched every channel off in the last study.
GATE_RULES = ("expected_count", "sample", "on_greater_off")
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
    more_seeds: list = field(default_factory=lambda: [4, 5])  # for the arms marked five_seeds
    long_factor: int = 4      # the long schedule's iterations, in units of detection.iters
    detection: Schedule = field(default_factory=lambda: Schedule(train=300, val=100, iters=300, batch=2))
    cls_size: int = 128       # DCT classifier input; RGB gets cls_size / 4
    classification: Schedule = field(default_factory=lambda: Schedule(train=60, val=20, iters=300, batch=32))
    stats_images: int = 100
    # The proxy's pretraining: torchvision's RGB ResNet-50 classifying the photo patches (another task
    # than detection) at pretrain_size px, and the fitted stem's images (the study set's train images).
    pretrain_iters: int = 600
    pretrain_batch: int = 32
    pretrain_size: int = 64
    fit_iterations: int = 600  # tools/convert_weights.py --fit-stem's Adam steps (its default)

    def to_json(self) -> dict:
        """The plan as docs/study.json's flat "plan" keys."""
        det, cls = self.detection, self.classification
        return {"size": self.size, "scene": self.scene, "num_train": det.train, "num_val": det.val,
                "iters": det.iters, "batch": det.batch, "seeds": self.seeds, "cls_size": self.cls_size,
                "cls_train": cls.train, "cls_val": cls.val, "cls_iters": cls.iters, "cls_batch": cls.batch,
                "stats_images": self.stats_images, "more_seeds": self.more_seeds, "long_factor": self.long_factor,
                "pretrain_iters": self.pretrain_iters, "pretrain_size": self.pretrain_size,
                "fit_iterations": self.fit_iterations}


def quick_plan() -> Plan:
    """``--quick``: tiny data and 2 iterations, seed 1; checks the pipeline, measures nothing."""
    return Plan(size=64, scene=128, seeds=[1], more_seeds=[], long_factor=2,
                detection=Schedule(train=4, val=2, iters=2, batch=2), cls_size=64,
                classification=Schedule(train=2, val=1, iters=2, batch=4), stats_images=4,
                pretrain_iters=2, pretrain_batch=4, pretrain_size=32, fit_iterations=2)


# The stem the evidence picked (from scratch, DCT-24 s=2, docs/study.md): the arms that need "the best stem"
# (5 seeds, s=1, DCT-64 FROM_SOURCE, the long schedule) use it.
BEST_STEM = "conv2"
STEM_ARM = {"conv": "conv", "conv2": "conv2", "luma_chroma": "lc"}
BEST = STEM_ARM[BEST_STEM]  # its arm-name suffix
# A pretrained backbone (the proxy): its BatchNorm statistics are kept (Detectron2's FrozenBN), as Detectron2
# fine-tunes from R-50.pkl, but every stage trains, the stem too (FREEZE_AT 0): the proxy's stem, pretrained
# for 600 iterations on textures, does not transfer frozen (seed 1 with FREEZE_AT 1: RGB 4.8, fitted stem 4.5
# bbox AP; fitted stem trained: 27.4). The FPN and heads are new (GN).
PRETRAINED = ["MODEL.RESNETS.NORM", "FrozenBN", "MODEL.BACKBONE.FREEZE_AT", "0"]
# The pretrained RGB classifier saw torchvision's input: RGB, ImageNet mean/std (in 0..255 units here).
RGB_TORCHVISION = ["INPUT.FORMAT", "RGB", "MODEL.PIXEL_MEAN", "[123.675,116.28,103.53]",
                   "MODEL.PIXEL_STD", "[58.395,57.12,57.375]"]


# The comparisons the verdict rests on, paired by seed (report.paired): (arm, reference arm).
PAIRS = [
    ("dct24_s2_R", "rgb_R"), (f"dct24_s2_R_{BEST}", "rgb_R"), (f"dct24_s2_R_{BEST}", "dct24_s2_R"),
    (f"dct24_s1_2R_{BEST}", f"dct24_s2_R_{BEST}"), (f"dct64_s2_R_src_{BEST}", "rgb_R"),
    ("pt_dct24_s2_R_fit", "pt_rgb_R"), ("pt_dct24_s2_R_fit", "pt_dct24_s2_R_slice"),
    ("pt_dct24_s2_R_fit", f"dct24_s2_R_{BEST}"), (f"dct24_s2_R_{BEST}_4x", "rgb_R_4x"),
    ("dct24gate_s2_R", "dct24_s2_R"), ("cls_dct24", "cls_rgb"),
]


class DetectorArm(NamedTuple):
    opts: list            # config overrides on top of the recipe
    size: int             # the image side it trains and tests at
    iters_factor: int = 1  # the schedule's length in units of Plan.detection.iters (the long schedule: 4)
    init: str = ""        # "": from scratch; "rgb", "slice", "fit": a backbone made from the pretrained classifier
    seeds: str = "plan"   # "plan": Plan.seeds; "more": also Plan.more_seeds (the arms the verdict's paired
    # differences rest on); "first": Plan.seeds[0] only (the DCT-192 detector the spectral analyses read)


class ClassifierArm(NamedTuple):
    arch: str             # a freqdet.classification.models name
    side: int             # the patch is resized to side x side px (the whole patch: same field of view)
    input_shape: tuple    # what the network sees: RGB pixels, or 24 DCT channels on the 8x8-block grid


def detection_arms(plan: Plan) -> dict:
    """arm -> :class:`DetectorArm`. Everything else is the shared :func:`recipe`."""
    R = plan.size
    dct_s2 = lambda ch: ["INPUT.DCT.CHANNELS", f'["{ch}"]', "INPUT.DCT.UPSAMPLE", "2", *S2]
    dct_s1 = ["INPUT.DCT.CHANNELS", '["24"]', "INPUT.DCT.UPSAMPLE", "1"]
    src = ["INPUT.DCT.FROM_SOURCE", "True"]
    stem = lambda name: ["MODEL.DCT_STEM.NAME", name]
    best_opts = stem(BEST_STEM)
    return {
        # from scratch, 300 iterations
        "rgb_R": DetectorArm(RGB, R, seeds="more"),
        "dct24_s2_R": DetectorArm(dct_s2("24"), R, seeds="more"),
        **{f"dct24_s2_R_{a}": DetectorArm(dct_s2("24") + stem(n), R, seeds="more" if n == BEST_STEM else "plan")
           for n, a in STEM_ARM.items()},
        # s=1 on the 2R image: RGB's backbone cost on 4x the pixels (= s=2 FROM_SOURCE at R, exactly)
        f"dct24_s1_2R_{BEST}": DetectorArm(dct_s1 + best_opts, 2 * R),
        # more information than RGB at R, at RGB's backbone cost: 64 channels of the 2R source pixels
        f"dct64_s2_R_src_{BEST}": DetectorArm(dct_s2("64") + src + best_opts, R),
        # the spectral analyses' detector (all 192 channels) and the gated twin's static reference
        "dct192_s2_R": DetectorArm(dct_s2("192"), R, seeds="first"),
        # the pretrained-regime proxy: fine-tuned from one RGB ResNet-50 pretrained here (pretrained.py)
        "pt_rgb_R": DetectorArm(RGB + RGB_TORCHVISION + PRETRAINED, R, init="rgb"),
        "pt_dct24_s2_R_slice": DetectorArm(dct_s2("24") + PRETRAINED, R, init="slice"),
        "pt_dct24_s2_R_fit": DetectorArm(dct_s2("24") + stem("conv2") + PRETRAINED, R, init="fit"),
        # the long schedule: a slower start or a lower ceiling?
        "rgb_R_4x": DetectorArm(RGB, R, iters_factor=plan.long_factor),
        f"dct24_s2_R_{BEST}_4x": DetectorArm(dct_s2("24") + best_opts, R, iters_factor=plan.long_factor),
    }


def arm_seeds(plan: Plan, arm: DetectorArm) -> list:
    """The seeds ``arm`` runs (its ``seeds`` field says which)."""
    return {"plan": plan.seeds, "more": plan.seeds + plan.more_seeds, "first": plan.seeds[:1]}[arm.seeds]


def classification_arms(plan: Plan) -> dict:
    """arm -> :class:`ClassifierArm`: RGB at size/4 vs DCT-24 at size, equal feature sizes (MobileNetV2's
    stride-2 first conv vs the stride-8 DCT grid)."""
    rgb, dct = plan.cls_size // 4, plan.cls_size
    return {"cls_rgb": ClassifierArm("mobilenet_v2", rgb, (3, rgb, rgb)),
            "cls_dct24": ClassifierArm("mobilenet_v2_dct", dct, (24, dct // 8, dct // 8))}


def recipe(plan: Plan, size: int, iters_factor: int = 1) -> list:
    """The schedule and sizes every detection arm shares (Faster R-CNN: bbox AP is the measure)."""
    det = plan.detection
    iters = det.iters * iters_factor
    steps = sorted({min(iters - 1, max(1, int(iters * f))) for f in (0.75, 0.9)})
    steps = "(" + ",".join(map(str, steps)) + ",)"
    return ["MODEL.MASK_ON", "False", "DATASETS.TRAIN", f'("{DATASETS[0]}",)', "DATASETS.TEST", f'("{DATASETS[1]}",)',
            "INPUT.MIN_SIZE_TRAIN", f"({size},)", "INPUT.MAX_SIZE_TRAIN", str(size),
            "INPUT.MIN_SIZE_TEST", str(size), "INPUT.MAX_SIZE_TEST", str(size),
            # objects ~5..30 px at R: anchors scale with the image (at 2R the objects are twice as large;
            # R's anchors there would sit on twice-as-coarse levels, relative to the object)
            "MODEL.ANCHOR_GENERATOR.SIZES", str([[a * size // plan.size] for a in (8, 16, 32, 64, 128)]).replace(" ", ""),
            "SOLVER.MAX_ITER", str(iters), "SOLVER.STEPS", steps, "SOLVER.IMS_PER_BATCH", str(det.batch),
            "SOLVER.WARMUP_ITERS", str(max(1, min(50, det.iters // 4))),
            "SOLVER.CHECKPOINT_PERIOD", "1000000",  # model_final only (disk)
            "TEST.EVAL_PERIOD", "0", "TEST.DETECTIONS_PER_IMAGE", "100"]
