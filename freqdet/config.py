"""Every config key freqdet adds to Detectron2, each with the reason it exists."""
from detectron2.config import CfgNode as CN


def add_freqdet_config(cfg):
    """Add freqdet's keys to a Detectron2 ``cfg`` in place (call before ``merge_from_file``).

    Only new keys are added; Detectron2's global defaults are never modified.
    """
    _C = cfg

    # ---- DCT input (read by freqdet.data.DCTDatasetMapper) -------------------------------
    _C.INPUT.DCT = CN()
    # Channel subset handed to the model, as a list: either one subset name of
    # freqdet.dct.named_subsets() (["24"], ["64"], ["192"], ["24T"], ...) or channel indices
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

    # ---- Per-channel statistics -------------------------------------------------------------
    # MODEL.PIXEL_MEAN / PIXEL_STD (Detectron2's keys) hold C values, in the order of
    # INPUT.DCT.CHANNELS, when given inline. Alternatively point this key at a JSON written
    # by tools/compute_dct_stats.py ({"mean": {"<index>": v, ...}, "std": {...}}, any
    # superset of the selected channels): the selected channels' values are taken from it
    # and PIXEL_MEAN/PIXEL_STD are ignored. Empty: use PIXEL_MEAN/PIXEL_STD.
    _C.MODEL.PIXEL_STATS_FILE = ""


def dct_channels(cfg) -> list[int]:
    """Channel indices selected by ``cfg.INPUT.DCT.CHANNELS`` (a one-name list, indices, or a str)."""
    from freqdet.dct import parse_channels

    spec = cfg.INPUT.DCT.CHANNELS
    if isinstance(spec, (list, tuple)) and len(spec) == 1 and isinstance(spec[0], str):
        spec = spec[0]
    try:
        return parse_channels(spec)
    except ValueError as e:
        raise ValueError(f"INPUT.DCT.CHANNELS: {e}") from None
