"""Turn Detectron2's LazyConfig ``common/`` pieces into their DCT versions (used by the ``.py`` configs).

Detectron2's ``common/models/mask_rcnn_fpn.py`` and ``common/data/coco.py`` stay the source of
every setting; these functions change only what the DCT input changes: the meta-architecture,
the stem and res2's input channels, the FPN level names / anchor strides / pooler scales that
follow from the input stride 8/s, the per-channel statistics, and the dataset mapper.
Call them in a config file, not as overrides: each derives several keys from its arguments.
"""
from __future__ import annotations

import math
from typing import Optional

from detectron2.config import LazyCall as L

from freqdet.detection.mapper import DCTDatasetMapper, dct_dtype
from freqdet.core import parse_channels
from freqdet.core.stats import load_dct_stats
from freqdet.detection.backbone import DCTStem
from freqdet.detection.meta_arch import FreqRCNN
from freqdet.detection.backbone import last_level_max_pool, make_dct_stages

__all__ = ["dct_dataloader", "dct_model", "fpn_level_names", "pixel_stat_from_file"]


def pixel_stat_from_file(path: str, channels, key: str, upsample: Optional[int] = None) -> list[float]:
    """``"mean"`` or ``"std"`` of the selected channels from a statistics file: LazyConfigs set
    FreqRCNN's ``pixel_mean`` and ``pixel_std`` with one call each (``upsample``: checked against the file)."""
    if key not in ("mean", "std"):
        raise ValueError(f"key must be 'mean' or 'std', got {key!r}")
    # errors name the LazyConfig field the path is set in
    return load_dct_stats(path, channels, upsample=upsample, key=f"model.pixel_{key}.path")[0 if key == "mean" else 1]


def fpn_level_names(upsample: int) -> list[str]:
    """FPN levels P2..P6 of the RGB model, named by pixel stride: p2..p6 at s=2, p3..p7 at s=1."""
    first = int(math.log2(8 // upsample))
    return [f"p{first + i}" for i in range(5)]


def dct_model(model, channels="24", upsample: int = 2, stats_file: str = "", mask: bool = True):
    """Detectron2's lazy R-CNN FPN ``model`` (in place) as FreqRCNN on ``channels`` at ``upsample``.

    ``stats_file``: JSON of tools/compute_dct_stats.py for ``model.pixel_mean/pixel_std``
    (override ``model.pixel_mean.path`` later; ``pixel_std`` follows it). ``mask=False``: Faster R-CNN.
    """
    chans = parse_channels(channels)
    stride = 8 // upsample
    model._target_ = FreqRCNN
    model.dct_channels = chans
    model.dct_upsample = upsample
    bottom_up = model.backbone.bottom_up
    rgb_stages = bottom_up.stages
    bottom_up.stem = L(DCTStem)(channels=len(chans), stride=stride)
    bottom_up.stages = L(make_dct_stages)(depth=rgb_stages.depth, in_channels=len(chans), norm=rgb_stages.norm,
                                          stride_in_1x1=rgb_stages.stride_in_1x1)
    bottom_up.freeze_at = 1  # the parameter-free stem only: res2 takes the new input and must train
    levels = fpn_level_names(upsample)
    model.backbone.top_block = L(last_level_max_pool)(in_feature=levels[3])
    model.proposal_generator.in_features = levels
    model.proposal_generator.anchor_generator.strides = [stride * 2**i for i in range(5)]
    heads = model.roi_heads
    heads.box_in_features = levels[:4]
    heads.box_pooler.scales = [1.0 / (stride * 2**i) for i in range(4)]
    if mask:
        heads.mask_in_features = levels[:4]
        heads.mask_pooler.scales = [1.0 / (stride * 2**i) for i in range(4)]
    else:
        heads.update(mask_in_features=None, mask_pooler=None, mask_head=None)
    model.pixel_mean = L(pixel_stat_from_file)(path=stats_file, channels=chans, key="mean", upsample=upsample)
    model.pixel_std = L(pixel_stat_from_file)(path="${..pixel_mean.path}", channels=chans, key="std", upsample=upsample)
    return model


def dct_dataloader(dataloader, channels="24", upsample: int = 2, dtype: str = "float16"):
    """Detectron2's lazy ``dataloader`` (in place) with :class:`DCTDatasetMapper` for train and test."""
    for split in ("train", "test"):
        mapper = dataloader[split].mapper
        mapper._target_ = DCTDatasetMapper
        mapper.dct_channels = parse_channels(channels)
        mapper.dct_upsample = upsample
        mapper.dct_dtype = L(dct_dtype)(name=dtype)
    return dataloader
