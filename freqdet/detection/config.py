"""Every config key freqdet adds to Detectron2, each with the reason it exists."""
from __future__ import annotations

import json
import os

from detectron2.config import CfgNode as CN
from detectron2.config import get_cfg
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T

from freqdet.core import NUM_CHANNELS
from freqdet.core.input_spec import InputSpec, InputSpecError
from freqdet.core.stems import STEMS
from freqdet.engine.gate_config import add_frequency_gate_config, check_gate_inference

from .from_source import check_from_source_augmentations


def add_freqdet_config(cfg):
    """Add freqdet's keys to a Detectron2 ``cfg`` in place (call before ``merge_from_file``).

    Only new keys are added; Detectron2's global defaults are never modified.
    """
    _C = cfg

    # ---- DCT input (read by freqdet.detection.mapper.DCTDatasetMapper) -------------------------------
    _C.INPUT.DCT = CN()
    # Channel subset handed to the model, as a list: either one subset name of
    # freqdet.core.named_subsets() (["24"], ["64"], ["192"], ["24T"], ...) or channel indices
    # c*64+u*8+v (c: 0 Y, 1 Cb, 2 Cr), e.g. [0, 1, 8, 9, 64, 128]. (A list because yacs
    # turns a bare "24" into an int and then refuses "24T"; code may also assign a str.)
    # Its length C is the backbone's input channel count and PIXEL_MEAN/STD's length.
    _C.INPUT.DCT.CHANNELS = ["24"]
    # Upsampling factor s in {1, 2} applied to the (augmented) image before the 8x8 DCT:
    # the DCT grid is (H*s/8, W*s/8), the backbone's first stride 8/s pixels. s=2 is the
    # paper's detection setting (res2..res5 strides 4..32), s=1 its "half input size" one.
    _C.INPUT.DCT.UPSAMPLE = 2
    # dtype of the DCT tensor the data loader hands to the model ("float32" or "float16";
    # float16 halves host-to-device transfer, the model computes in float32 after it).
    _C.INPUT.DCT.DTYPE = "float32"
    # Compute the DCT in the model instead of the data loader: the mapper then hands the
    # augmented uint8 image exactly as Detectron2's DatasetMapper does (same CPU cost and bytes
    # as RGB), and FreqRCNN applies colour conversion + block DCT + subset on its device (one
    # fixed strided convolution, freqdet.core.torch_dct.BlockDCT) before normalization. Equal to
    # the loader-side DCT up to float32 rounding; checkpoints are the same either way.
    _C.INPUT.DCT.ON_DEVICE = False
    # Take the DCT input from the ORIGINAL image: the augmentations' resize/crop/flip are replayed
    # on the source at UPSAMPLE x scale (a resize goes straight to s x its target size), then the
    # DCT runs with upsample 1, so the grid is the same (H*s/8, W*s/8) but its pixels are sharper
    # than those of the upsampled augmented image. Annotations and sizes are unchanged. Only
    # resize/flip/crop augmentations are supported (others raise); needs ON_DEVICE False.
    # False is the paper's pipeline (upsample the augmented image s x).
    _C.INPUT.DCT.FROM_SOURCE = False

    # ---- Learned DCT stem (freqdet.core.stems; built by freqdet.detection.backbone.DCTStem) -----------
    _C.MODEL.DCT_STEM = CN()
    # "none": res2 takes the C DCT channels directly (the paper's architecture). "conv" (k x k conv,
    # norm, ReLU), "conv2" (two layers: what tools/convert_weights.py --fit-stem fits to an RGB
    # stem) and "luma_chroma" (luma and chroma convolved apart, then joined) map the C channels to
    # OUT_CHANNELS on the DCT grid, so res2..res5 are RGB's blocks. Norm: MODEL.RESNETS.NORM.
    # A learned stem is frozen by MODEL.BACKBONE.FREEZE_AT >= 1, as Detectron2's RGB stem.
    _C.MODEL.DCT_STEM.NAME = "none"
    # Odd kernel size of the stem's first convolution(s), in DCT blocks (3 at s=2: 12x12 pixels).
    _C.MODEL.DCT_STEM.KERNEL = 3
    # Channels the stem hands to res2: 64, the RGB stem's width (RGB-pretrained res2 expects it).
    _C.MODEL.DCT_STEM.OUT_CHANNELS = 64

    # ---- Per-channel statistics -------------------------------------------------------------
    # MODEL.PIXEL_MEAN / PIXEL_STD (Detectron2's keys) hold C values, in the order of
    # INPUT.DCT.CHANNELS, when given inline. Alternatively point this key at a JSON written
    # by tools/compute_dct_stats.py ({"mean": {"<index>": v, ...}, "std": {...}}, any
    # superset of the selected channels): the selected channels' values are taken from it
    # and PIXEL_MEAN/PIXEL_STD are ignored. Empty: use PIXEL_MEAN/PIXEL_STD.
    # The file records what it was measured on (its "identity": the dataset's image count and a
    # fingerprint of its files' names and sizes, INPUT.DCT.UPSAMPLE, INPUT.DCT.FROM_SOURCE and the
    # training augmentation; the dataset's name, json file and INPUT.FORMAT are recorded for
    # messages only, as they do not change the numbers). tools/train_net.py checks it against
    # DATASETS.TRAIN[0] before training: a file it computed itself ("auto": true) for other data
    # is computed again at this same path (the log names the field that differed), so the path
    # always holds the statistics of the last run that used it; a file from
    # tools/compute_dct_stats.py (or by hand) that differs is refused, never overwritten. Give
    # runs on different datasets their own path to keep both files. Files without an identity
    # (older ones) are used as they are, with a warning. The model build (also in demo, export)
    # checks s, FROM_SOURCE and the augmentation; the dataset only train_net.py can check.
    _C.MODEL.PIXEL_STATS_FILE = ""
    # When PIXEL_STATS_FILE names a file that does not exist (or an automatic one made for other
    # data), tools/train_net.py computes it (all 192 channels, through the training mapper, on the
    # main process, with a progress bar) from the first this many images of DATASETS.TRAIN[0]
    # (0: all) and writes it there, as tools/compute_dct_stats.py --max-images N would. 5000 COCO
    # images give stable statistics.
    _C.MODEL.PIXEL_STATS_MAX_IMAGES = 5000

    # ---- Weights ------------------------------------------------------------------------------
    # False: MODEL.WEIGHTS whose tensors have other shapes than the model's (another class count,
    # norm or channel subset) stop the run with the list of those keys, where Detectron2 would only
    # log "Skip loading parameter" and go on with a partly random model. True: load the rest and
    # keep those initialised, as for fine-tuning to new classes. Missing or extra keys (a backbone
    # file without heads) load either way. LazyConfig: train.init_checkpoint_partial.
    _C.MODEL.WEIGHTS_PARTIAL = False

    # ---- Unreadable images -------------------------------------------------------------------
    # False (Detectron2's behaviour): a training image that cannot be opened (missing file, a
    # directory) or decoded stops the run with an error naming the file and the reason. True: the training mapper logs a warning naming
    # it, the training loader maps another image in its place (the batch keeps its size),
    # and "data/skipped_images" in the metrics counts the skipped files (per process). Test-time
    # loaders always fail loudly: an evaluation must cover every image.
    _C.DATALOADER.SKIP_UNREADABLE_IMAGES = False

    # ---- Learned frequency-channel selection: MODEL.FREQ_GATE (keys shared with classification) ----
    _C.MODEL.FREQ_GATE = add_frequency_gate_config(CN())


def load_config(config_file: str, opts=()):
    """Detectron2's ``get_cfg()`` with freqdet's keys, then ``config_file`` and the command line's
    ``KEY VALUE`` ``opts`` merged: what every tool starts from (not frozen)."""
    cfg = get_cfg()
    add_freqdet_config(cfg)
    cfg.merge_from_file(config_file)
    cfg.merge_from_list(list(opts))
    return cfg


# InputSpec field -> the config key it is read from (errors name the key).
_INPUT_KEYS = {"channels": "INPUT.DCT.CHANNELS", "upsample": "INPUT.DCT.UPSAMPLE", "dtype": "INPUT.DCT.DTYPE",
               "on_device": "INPUT.DCT.ON_DEVICE", "from_source": "INPUT.DCT.FROM_SOURCE"}


def input_spec(cfg) -> InputSpec:
    """The :class:`~freqdet.core.input_spec.InputSpec` of ``cfg.INPUT.DCT``; errors name the key."""
    d = cfg.INPUT.DCT
    channels = d.CHANNELS
    if isinstance(channels, (list, tuple)) and len(channels) == 1 and isinstance(channels[0], str):
        channels = channels[0]  # a one-name list (see CHANNELS above)
    try:
        return InputSpec(channels, d.UPSAMPLE, d.DTYPE, d.ON_DEVICE, d.FROM_SOURCE)
    except InputSpecError as e:
        raise ValueError(e.naming(_INPUT_KEYS)) from None


def fpn_feature_opts(upsample: int) -> list[str]:
    """``KEY VALUE`` overrides naming the RPN / ROI-head FPN levels for ``upsample`` (a config's levels are
    those of its own s): ``MODEL.RPN.IN_FEATURES`` P2..P6 and ``MODEL.ROI_HEADS.IN_FEATURES`` P2..P5 of
    the RGB model, named by pixel stride. For ``merge_from_list`` and command lines alike."""
    levels = InputSpec(upsample=upsample).fpn_level_names
    return ["MODEL.RPN.IN_FEATURES", json.dumps(levels, separators=(",", ":")),
            "MODEL.ROI_HEADS.IN_FEATURES", json.dumps(levels[:4], separators=(",", ":"))]


# ---- Checks of a whole config, before anything is read or built ------------------------------------

def check_config(cfg) -> InputSpec:
    """Every check of freqdet's keys that needs no data, each error naming the key: the DCT input
    (:func:`input_spec`), INPUT.FORMAT, FROM_SOURCE's augmentations, the FPN level names, the gate's
    channels and the statistics keys. Returns the input spec.

    tools/train_net.py runs it before the statistics pass (a typo costs no image reads);
    ``FreqRCNN.from_config`` runs it before the network build.
    """
    spec = input_spec(cfg)
    check_input_format(cfg.INPUT.FORMAT)
    if cfg.MODEL.BACKBONE.NAME not in DCT_BACKBONES:  # an RGB model fed by the DCT mapper (INPUT.DCT.ON_DEVICE:
        return spec  # the uint8 image, as DatasetMapper): its FPN names, norm and stem are Detectron2's own
    if spec.from_source:
        check_from_source_augmentations(train_augmentations(cfg))
    check_fpn_feature_names(cfg, spec)
    check_gate_channels(cfg, spec)
    check_dct_stem(cfg)
    check_pixel_stats_keys(cfg, spec)
    return spec


# The backbones that read the DCT input (freqdet.detection.backbone); the checks below concern them only.
DCT_BACKBONES = ("build_dct_resnet_backbone", "build_dct_resnet_fpn_backbone")


def train_augmentations(cfg) -> list:
    """The training augmentations DCTDatasetMapper gets from ``cfg`` (those of DatasetMapper.from_config:
    Detectron2's resize and flip, behind INPUT.CROP's RandomCrop when enabled)."""
    augs = utils.build_augmentation(cfg, is_train=True)
    if cfg.INPUT.CROP.ENABLED:
        augs.insert(0, T.RandomCrop(cfg.INPUT.CROP.TYPE, cfg.INPUT.CROP.SIZE))
    return augs


def check_input_format(input_format: str) -> None:
    """INPUT.FORMAT must be one the DCT's colour conversion knows."""
    if input_format not in ("RGB", "BGR"):
        raise ValueError(f"INPUT.FORMAT must be RGB or BGR for the DCT input, got {input_format!r}")


def check_fpn_feature_names(cfg, spec: InputSpec) -> None:
    """FPN levels are named by pixel stride, so s=1 shifts them (p3..p7): say so early."""
    if "fpn" not in cfg.MODEL.BACKBONE.NAME:
        return
    names = spec.fpn_level_names
    for node, key in ((cfg.MODEL.RPN, "MODEL.RPN.IN_FEATURES"), (cfg.MODEL.ROI_HEADS, "MODEL.ROI_HEADS.IN_FEATURES")):
        wrong = [f for f in node.IN_FEATURES if f not in names]
        if wrong:
            raise ValueError(
                f"{key} names {wrong}, but with INPUT.DCT.UPSAMPLE={spec.upsample} the FPN levels "
                f"are {names} (Detectron2 names them by pixel stride); the RGB model's levels at this s are "
                f"MODEL.RPN.IN_FEATURES {names} and MODEL.ROI_HEADS.IN_FEATURES {names[:4]}"
            )


def check_gate_channels(cfg, spec: InputSpec) -> None:
    """MODEL.FREQ_GATE selects among all 192 channels, with a known inference rule."""
    if cfg.MODEL.FREQ_GATE.ENABLED and spec.num_channels != NUM_CHANNELS:
        raise ValueError(
            f"MODEL.FREQ_GATE.ENABLED needs all {NUM_CHANNELS} channels (INPUT.DCT.CHANNELS ['192']), "
            f"got {list(cfg.INPUT.DCT.CHANNELS)!r}"
        )
    check_gate_inference(cfg.MODEL.FREQ_GATE.INFERENCE)


def check_dct_stem(cfg) -> None:
    """MODEL.DCT_STEM names a known stem, and a learned one trained from scratch is not frozen."""
    name = cfg.MODEL.DCT_STEM.NAME
    if name not in STEMS:
        raise ValueError(f"MODEL.DCT_STEM.NAME must be one of {list(STEMS)}, got {name!r}")
    if name != "none" and not cfg.MODEL.WEIGHTS and cfg.MODEL.BACKBONE.FREEZE_AT >= 1:
        raise ValueError(
            f"MODEL.DCT_STEM.NAME {name!r} is a learned stem and MODEL.WEIGHTS is empty, so it starts random; "
            f"MODEL.BACKBONE.FREEZE_AT={cfg.MODEL.BACKBONE.FREEZE_AT} would freeze it there. Set "
            "MODEL.BACKBONE.FREEZE_AT 0 to train it, or start from weights with a fitted stem "
            "(tools/convert_weights.py --fit-stem)"
        )


def check_pixel_stats_keys(cfg, spec: InputSpec) -> None:
    """Inline PIXEL_MEAN/PIXEL_STD hold one value per selected channel; PIXEL_STATS_FILE names a file
    (not a folder); PIXEL_STATS_MAX_IMAGES >= 0. (The file's content is checked where it is read.)"""
    path = cfg.MODEL.PIXEL_STATS_FILE
    if path:
        if os.path.isdir(path):
            raise ValueError(f"MODEL.PIXEL_STATS_FILE={path!r} is a directory; the key names the statistics "
                             "JSON file itself (e.g. datasets/my_data/dct_stats_s2.json)")
        if cfg.MODEL.PIXEL_STATS_MAX_IMAGES < 0:
            raise ValueError(f"MODEL.PIXEL_STATS_MAX_IMAGES must be >= 0 (0: all images), "
                             f"got {cfg.MODEL.PIXEL_STATS_MAX_IMAGES}")
        return
    c = spec.num_channels
    for key in ("PIXEL_MEAN", "PIXEL_STD"):
        values = cfg.MODEL[key]
        if len(values) != c:
            raise ValueError(
                f"MODEL.{key} has {len(values)} values but INPUT.DCT.CHANNELS={list(cfg.INPUT.DCT.CHANNELS)!r} "
                f"selects {c} channels; give {c} values or set MODEL.PIXEL_STATS_FILE "
                "(tools/compute_dct_stats.py writes one)"
            )
