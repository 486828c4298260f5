"""Every setting of classifier training, as a Detectron2 ``CfgNode`` with the reason each key exists.

The defaults are the paper's ImageNet recipe (Xu et al., CVPR 2020): ResNet-50 on the
24 DCT channels of a 448 px crop, batch 256, SGD 0.1 with 5 warm-up epochs and a cosine
schedule over 90 epochs. ``tools/train_classifier.py --config-file F KEY VALUE ...``
merges a YAML file and command-line overrides into it, as Detectron2's ``train_net.py`` does.
Keys that also exist in Detectron2's detection config (``MODEL.WEIGHTS``, ``SOLVER.IMS_PER_BATCH``,
``DATALOADER.NUM_WORKERS``, ...) mean the same here.
"""
from __future__ import annotations

from typing import Optional, Sequence

from detectron2.config import CfgNode as CN

from freqdet.core import NUM_CHANNELS, parse_channels
from freqdet.core.stems import STEMS, build_dct_stem
from freqdet.engine.gate_config import add_frequency_gate_config, check_gate_inference

__all__ = ["add_classification_config", "check_classification_config", "check_dct_stem", "classification_channels",
           "get_classification_cfg", "load_classification_config"]


def add_classification_config(cfg: CN) -> CN:
    """Add every classification key to ``cfg`` (an empty ``CfgNode``) in place; returns it."""
    _C = cfg
    # Detectron2's CfgNode.merge_from_file checks this (its config format version).
    _C.VERSION = 2

    # ---- Model ------------------------------------------------------------------------------
    _C.MODEL = CN()
    # freqdet.classification.models.ARCHS: "resnet50_dct", "mobilenet_v2_dct" (DCT input, the
    # layers that downsample RGB to stride 8 removed) or the RGB baselines "resnet50",
    # "mobilenet_v2" (torchvision's models, unchanged), so both arms run the same recipe.
    _C.MODEL.ARCH = "resnet50_dct"
    # "cuda" or "cpu"; "" picks cuda when available.
    _C.MODEL.DEVICE = ""
    # Checkpoint to start training from, or to evaluate with --eval-only ("" : random init).
    _C.MODEL.WEIGHTS = ""
    # Label smoothing of the cross-entropy loss (0: none; 0.1 is a common ImageNet choice).
    _C.MODEL.LABEL_SMOOTHING = 0.0
    # Per-channel DCT mean/std JSON (freqdet.core.stats format; all 192 channels, so one file
    # serves every subset). Coefficient scales differ by orders of magnitude between the DC and
    # high frequencies, so normalisation is measured, not guessed: a missing file (or one made
    # for another crop/resize) is computed from the training set and written there.
    # "": OUTPUT_DIR/dct_stats.json. RGB models use ImageNet's mean/std and ignore it.
    _C.MODEL.PIXEL_STATS_FILE = ""
    # Training images (a seeded random sample) the statistics are measured on; 0: all.
    _C.MODEL.PIXEL_STATS_MAX_IMAGES = 10000
    # Learned channel selection over all 192 channels; the keys are detection's MODEL.FREQ_GATE
    # (freqdet.engine.gate_config), read by the same hook.
    _C.MODEL.FREQ_GATE = add_frequency_gate_config(CN())
    # The classifier's gate trains at the base learning rate (0.1 x batch / 256 is already 5x
    # detection's), so gradients into it are not scaled up as the detector's are.
    _C.MODEL.FREQ_GATE.GRAD_SCALE = 1.0

    # Learned stem between the DCT input (after the gate) and the first block (freqdet.core.stems),
    # as detection's MODEL.DCT_STEM. "none": the paper's model, whose first block (ResNet's layer1,
    # MobileNetV2's features.1) takes the C channels. "conv" (k x k conv, BatchNorm, ReLU), "conv2"
    # (two such layers) and "luma_chroma" (luma and chroma convolved apart, then joined; the channels
    # must hold both) map them to the RGB network's width there (64; 32 x width for MobileNetV2), so
    # that block is torchvision's own and RGB-pretrained weights load into it. DCT models only.
    _C.MODEL.DCT_STEM = CN()
    _C.MODEL.DCT_STEM.NAME = "none"
    # Odd kernel size of the stem's first convolution(s), in DCT blocks (3: 24x24 pixels of context).
    _C.MODEL.DCT_STEM.KERNEL = 3

    # ---- Input ------------------------------------------------------------------------------
    _C.INPUT = CN()
    # Crop side in pixels (train: RandomResizedCrop, val: CenterCrop). 0: the paper's size for
    # the model's input, 448 for DCT (a 56x56 DCT grid) and 224 for RGB.
    _C.INPUT.SIZE = 0
    # Validation resize of the shorter side before the centre crop. 0: SIZE * 8/7 (ImageNet's
    # 256/224); equal to SIZE shows the whole (square) image.
    _C.INPUT.RESIZE = 0
    # Smallest area fraction RandomResizedCrop may take (ImageNet: 0.08; small data sets with
    # centred objects train better with larger crops).
    _C.INPUT.CROP_SCALE_MIN = 0.08
    _C.INPUT.DCT = CN()
    # Channel subset fed to a DCT model, as a list: one subset name of
    # freqdet.core.named_subsets() (["24"], ["64"], ["192"], ["24T"], ...) or channel indices
    # c*64+u*8+v (c: 0 Y, 1 Cb, 2 Cr). A list because yacs would turn a bare "24" into an int
    # (the same spelling as detection's key). Ignored with MODEL.FREQ_GATE.ENABLED (all 192).
    _C.INPUT.DCT.CHANNELS = ["24"]
    # The loader ships uint8 RGB crops (RGB's bytes, no CPU DCT) and the model computes colour
    # conversion + block DCT + normalisation on its device; checkpoints are the same either way.
    _C.INPUT.DCT.ON_DEVICE = False

    # ---- Data -------------------------------------------------------------------------------
    _C.DATASETS = CN()
    # ImageNet-layout root: ROOT/TRAIN_DIR/<class>/<image> and ROOT/VAL_DIR/<class>/<image>,
    # with the same class folders. Must be set.
    _C.DATASETS.ROOT = ""
    # Training split, relative to ROOT.
    _C.DATASETS.TRAIN_DIR = "train"
    # Validation split, relative to ROOT (evaluated for top-1/top-5).
    _C.DATASETS.VAL_DIR = "val"
    _C.DATALOADER = CN()
    # DataLoader worker processes per training process (decoding and the DCT run there).
    _C.DATALOADER.NUM_WORKERS = 8
    # False: a training image that cannot be decoded stops the run with an error naming it.
    # True: it is logged, left out of the statistics, replaced in its batch by another image
    # and counted as "data/skipped_images" in the metrics (as detection's key of that name).
    _C.DATALOADER.SKIP_UNREADABLE_IMAGES = False

    # ---- Optimisation -----------------------------------------------------------------------
    _C.SOLVER = CN()
    # Images per iteration, total over all processes (must divide by their number).
    _C.SOLVER.IMS_PER_BATCH = 256
    # Length of training in epochs of the training split (the paper: 90).
    _C.SOLVER.EPOCHS = 90.0
    # Length of training in iterations; 0: EPOCHS x (training images // IMS_PER_BATCH).
    _C.SOLVER.MAX_ITER = 0
    # SGD learning rate; 0: 0.1 x IMS_PER_BATCH / 256 (Goyal et al.'s linear scaling rule).
    _C.SOLVER.BASE_LR = 0.0
    _C.SOLVER.MOMENTUM = 0.9
    # L2 weight decay; none on BatchNorm parameters (Goyal et al., 2017).
    _C.SOLVER.WEIGHT_DECAY = 1e-4
    # "cosine" (to 0 at MAX_ITER) or "step" (LR / 10 at each of STEP_EPOCHS).
    _C.SOLVER.SCHEDULE = "cosine"
    # Epochs at which the "step" schedule divides the LR by 10 (ImageNet's 30/60/80 of 90).
    _C.SOLVER.STEP_EPOCHS = (30.0, 60.0, 80.0)
    # Linear warm-up from 1% of the LR over this many epochs (large-batch SGD needs it); capped
    # at a quarter of training, so a short run still reaches the base LR.
    _C.SOLVER.WARMUP_EPOCHS = 5.0
    # Iterations between checkpoints (model_XXXXXXX.pth, with the trainer state for --resume);
    # 0: one epoch.
    _C.SOLVER.CHECKPOINT_PERIOD = 0
    _C.SOLVER.AMP = CN()
    # Mixed precision (Detectron2's AMPTrainer; CUDA).
    _C.SOLVER.AMP.ENABLED = False

    # ---- Evaluation, logging ----------------------------------------------------------------
    _C.TEST = CN()
    # Iterations between top-1/top-5 evaluations of the validation split; 0: one epoch. The
    # last iteration is always evaluated (results in OUTPUT_DIR/eval_results.json).
    _C.TEST.EVAL_PERIOD = 0
    # Checkpoints, metrics.json, TensorBoard events, logs, eval_results.json, the statistics.
    _C.OUTPUT_DIR = "output/classifier"
    # Seed of the initialisation (per process: SEED + rank) and of the training stream, whose
    # order and augmentation are functions of (SEED, position) so --resume continues them.
    # Negative: one drawn at random (Detectron2's meaning).
    _C.SEED = 0
    # Iterations between writes of the training metrics (log, metrics.json, TensorBoard).
    _C.LOG_PERIOD = 20
    # Progress bar while measuring the DCT statistics (off in batch jobs and tests).
    _C.PROGRESS = True
    return _C


def get_classification_cfg() -> CN:
    """A new config holding every classification key at its default (the paper's recipe)."""
    return add_classification_config(CN())


def classification_channels(cfg) -> list[int]:
    """The channel indices a DCT model reads: ``INPUT.DCT.CHANNELS``, or all 192 behind the gate."""
    if cfg.MODEL.FREQ_GATE.ENABLED:
        return list(range(NUM_CHANNELS))
    spec = cfg.INPUT.DCT.CHANNELS
    name_only = isinstance(spec, (list, tuple)) and len(spec) == 1 and isinstance(spec[0], str)
    try:
        return parse_channels(spec[0] if name_only else spec)
    except ValueError as e:
        raise ValueError(f"INPUT.DCT.CHANNELS {spec!r}: {e}") from None


def check_classification_config(cfg) -> None:
    """Values yacs's type check lets through but training cannot use; each error names its key."""
    from .models import ARCHS

    def require(ok: bool, key: str, value, what: str):
        if not ok:
            raise ValueError(f"{key} = {value!r}: {what}")

    arch = cfg.MODEL.ARCH
    require(arch in ARCHS, "MODEL.ARCH", arch, f"choose one of {', '.join(ARCHS)}")
    gate = cfg.MODEL.FREQ_GATE
    require(not gate.ENABLED or ARCHS[arch][1] == "dct", "MODEL.FREQ_GATE.ENABLED", gate.ENABLED,
            f"the gate selects DCT channels; MODEL.ARCH {arch!r} takes RGB")
    require(gate.TAU_SCHEDULE in ("exp", "constant"), "MODEL.FREQ_GATE.TAU_SCHEDULE", gate.TAU_SCHEDULE,
            "choose 'exp' or 'constant'")
    require(gate.NORM in ("LN", "BN", ""), "MODEL.FREQ_GATE.NORM", gate.NORM, "choose 'LN', 'BN' or ''")
    check_gate_inference(gate.INFERENCE)
    channels = classification_channels(cfg)
    check_dct_stem(cfg, ARCHS[arch][1], channels)
    require(cfg.MODEL.DEVICE in ("", "cpu", "cuda") or cfg.MODEL.DEVICE.startswith("cuda:"),
            "MODEL.DEVICE", cfg.MODEL.DEVICE, "choose 'cuda', 'cpu' or '' (cuda when available)")
    require(0 <= cfg.MODEL.LABEL_SMOOTHING < 1, "MODEL.LABEL_SMOOTHING", cfg.MODEL.LABEL_SMOOTHING, "must be in [0, 1)")
    for key in ("INPUT.SIZE", "INPUT.RESIZE", "MODEL.PIXEL_STATS_MAX_IMAGES", "DATALOADER.NUM_WORKERS",
                "SOLVER.MAX_ITER", "SOLVER.CHECKPOINT_PERIOD", "TEST.EVAL_PERIOD"):
        value = _get(cfg, key)
        require(value >= 0, key, value, "must be >= 0 (0: the default described in freqdet.classification.config)")
    require(0 < cfg.INPUT.CROP_SCALE_MIN <= 1, "INPUT.CROP_SCALE_MIN", cfg.INPUT.CROP_SCALE_MIN, "must be in (0, 1]")
    require(cfg.SOLVER.IMS_PER_BATCH > 0, "SOLVER.IMS_PER_BATCH", cfg.SOLVER.IMS_PER_BATCH, "must be > 0")
    require(cfg.SOLVER.EPOCHS > 0 or cfg.SOLVER.MAX_ITER > 0, "SOLVER.EPOCHS", cfg.SOLVER.EPOCHS,
            "must be > 0 unless SOLVER.MAX_ITER is set")
    require(cfg.SOLVER.BASE_LR >= 0, "SOLVER.BASE_LR", cfg.SOLVER.BASE_LR, "must be >= 0 (0: 0.1 x IMS_PER_BATCH / 256)")
    require(cfg.SOLVER.SCHEDULE in ("cosine", "step"), "SOLVER.SCHEDULE", cfg.SOLVER.SCHEDULE,
            "choose 'cosine' or 'step'")
    require(cfg.SOLVER.WARMUP_EPOCHS >= 0, "SOLVER.WARMUP_EPOCHS", cfg.SOLVER.WARMUP_EPOCHS, "must be >= 0")
    require(cfg.LOG_PERIOD > 0, "LOG_PERIOD", cfg.LOG_PERIOD, "must be > 0")
    require(gate.LOG_PERIOD > 0, "MODEL.FREQ_GATE.LOG_PERIOD", gate.LOG_PERIOD, "must be > 0")


def check_dct_stem(cfg, domain: str, channels: Sequence[int]) -> None:
    """MODEL.DCT_STEM names a known stem with an odd kernel, on a DCT model whose channels it can take."""
    name, kernel = cfg.MODEL.DCT_STEM.NAME, cfg.MODEL.DCT_STEM.KERNEL
    if name not in STEMS:
        raise ValueError(f"MODEL.DCT_STEM.NAME = {name!r}: choose one of {', '.join(STEMS)}")
    if name == "none":
        return
    if domain != "dct":
        raise ValueError(f"MODEL.DCT_STEM.NAME = {name!r}: a learned DCT stem needs a DCT model; "
                         f"MODEL.ARCH {cfg.MODEL.ARCH!r} takes RGB and has its own stem")
    if kernel < 1 or kernel % 2 == 0:
        raise ValueError(f"MODEL.DCT_STEM.KERNEL = {kernel!r}: must be odd and positive (the grid keeps its size)")
    try:
        build_dct_stem(name, channels, out_channels=8, kernel=1)  # e.g. luma_chroma on a luma-only subset
    except ValueError as e:
        raise ValueError(f"MODEL.DCT_STEM.NAME = {name!r} with INPUT.DCT.CHANNELS "
                         f"{list(cfg.INPUT.DCT.CHANNELS)!r}: {e}") from None


def _get(cfg, key: str):
    for part in key.split("."):
        cfg = cfg[part]
    return cfg


def load_classification_config(config_file: Optional[str] = None, opts: Sequence = ()) -> CN:
    """The defaults, then ``config_file`` (optional; YAML, may use ``_BASE_``) and the command line's
    ``KEY VALUE`` ``opts`` merged and checked: what training, evaluation and the tools start from
    (not frozen). An unknown key or a value of the wrong type fails naming the key."""
    cfg = get_classification_cfg()
    if config_file:
        cfg.merge_from_file(config_file)
    cfg.merge_from_list(list(opts))
    check_classification_config(cfg)
    return cfg
