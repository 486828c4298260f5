"""Every config key freqdet adds to Detectron2, each with the reason it exists."""
from __future__ import annotations

import json

from detectron2.config import CfgNode as CN
from detectron2.config import get_cfg

from freqdet.core.input_spec import InputSpec, InputSpecError
from freqdet.engine.gate_config import add_frequency_gate_config


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

    # ---- Per-channel statistics -------------------------------------------------------------
    # MODEL.PIXEL_MEAN / PIXEL_STD (Detectron2's keys) hold C values, in the order of
    # INPUT.DCT.CHANNELS, when given inline. Alternatively point this key at a JSON written
    # by tools/compute_dct_stats.py ({"mean": {"<index>": v, ...}, "std": {...}}, any
    # superset of the selected channels): the selected channels' values are taken from it
    # and PIXEL_MEAN/PIXEL_STD are ignored. Empty: use PIXEL_MEAN/PIXEL_STD.
    _C.MODEL.PIXEL_STATS_FILE = ""
    # When PIXEL_STATS_FILE names a file that does not exist, tools/train_net.py computes it
    # (all 192 channels, through the training mapper, on the main process, with a progress bar)
    # from the first this many images of DATASETS.TRAIN[0] (0: all) and caches it there, as
    # tools/compute_dct_stats.py --max-images N would. 5000 COCO images give stable statistics.
    _C.MODEL.PIXEL_STATS_MAX_IMAGES = 5000

    # ---- Weights ------------------------------------------------------------------------------
    # False: MODEL.WEIGHTS whose tensors have other shapes than the model's (another class count,
    # norm or channel subset) stop the run with the list of those keys, where Detectron2 would only
    # log "Skip loading parameter" and go on with a partly random model. True: load the rest and
    # keep those initialised, as for fine-tuning to new classes. Missing or extra keys (a backbone
    # file without heads) load either way. LazyConfig: train.init_checkpoint_partial.
    _C.MODEL.WEIGHTS_PARTIAL = False

    # ---- Unreadable images -------------------------------------------------------------------
    # False (Detectron2's behaviour): a training image that cannot be decoded stops the run with
    # an error naming the file and the reason. True: the training mapper logs a warning naming
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
