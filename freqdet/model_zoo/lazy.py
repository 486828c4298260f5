"""Turn Detectron2's LazyConfig ``common/`` pieces into their DCT versions (used by the ``.py`` configs).

Detectron2's ``common/models/mask_rcnn_fpn.py`` and ``common/data/coco.py`` stay the source of
every setting; these functions change only what the DCT input changes: the meta-architecture,
the stem and res2's input channels, the FPN level names / anchor strides / pooler scales that
follow from the input stride 8/s, the per-channel statistics, and the dataset mapper.
Call them in a config file, not as overrides: each derives several keys from its arguments.
"""
from __future__ import annotations

from typing import Optional

from detectron2.config import LazyCall as L

from freqdet.core.input_spec import InputSpec
from freqdet.core.stats import load_dct_stats
from freqdet.core.stems import stem_out_channels
from freqdet.detection.backbone import DCTStem, last_level_max_pool, make_dct_stages
from freqdet.detection.mapper import DCTDatasetMapper
from freqdet.detection.meta_arch import FreqRCNN

__all__ = ["dct_dataloader", "dct_model", "pixel_stat_from_file"]


def pixel_stat_from_file(path: str, channels, key: str, upsample: Optional[int] = None) -> list[float]:
    """``"mean"`` or ``"std"`` of the selected channels from a statistics file: LazyConfigs set
    FreqRCNN's ``pixel_mean`` and ``pixel_std`` with one call each (``upsample``: checked against the file)."""
    if key not in ("mean", "std"):
        raise ValueError(f"key must be 'mean' or 'std', got {key!r}")
    # errors name the LazyConfig field the path is set in
    return load_dct_stats(path, channels, upsample=upsample, key=f"model.pixel_{key}.path")[0 if key == "mean" else 1]


def dct_model(model, channels="24", upsample: int = 2, stats_file: str = "", mask: bool = True,
              stem: str = "none"):
    """Detectron2's lazy R-CNN FPN ``model`` (in place) as FreqRCNN on ``channels`` at ``upsample``.

    ``stem``: ``MODEL.DCT_STEM.NAME``'s choice (``model.backbone.bottom_up.stem.kernel`` /
    ``out_channels`` as the yacs keys); a learned one trains from iteration 0 (``freeze_at`` 0).

    ``stats_file``: JSON of tools/compute_dct_stats.py for ``model.pixel_mean/pixel_std``
    (override ``model.pixel_mean.path`` later; ``pixel_std`` follows it). ``mask=False``: Faster R-CNN.
    The model's ``input_spec`` and the mappers' (:func:`dct_dataloader`) are separate nodes: for the
    on-device DCT set ``on_device=True`` in both.
    """
    spec = InputSpec(channels, upsample)  # checked here, when the config file is read
    chans, stride = list(spec.channels), spec.stride
    model._target_ = FreqRCNN
    model.input_spec = L(InputSpec)(channels=chans, upsample=spec.upsample)
    bottom_up = model.backbone.bottom_up
    rgb_stages = bottom_up.stages
    bottom_up.stem = L(DCTStem)(channels=spec.num_channels, stride=stride, name=stem, channel_ids=chans,
                                out_channels=64, kernel=3, norm=rgb_stages.norm)
    bottom_up.stages = L(make_dct_stages)(depth=rgb_stages.depth,
                                          in_channels=stem_out_channels(stem, spec.num_channels, 64),
                                          norm=rgb_stages.norm, stride_in_1x1=rgb_stages.stride_in_1x1)
    # "none": freeze the parameter-free stem only (res2 takes the new input and must train);
    # a learned stem starts random and must train too
    bottom_up.freeze_at = 1 if stem == "none" else 0
    levels = spec.fpn_level_names
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
    model.pixel_mean = L(pixel_stat_from_file)(path=stats_file, channels=chans, key="mean", upsample=spec.upsample)
    model.pixel_std = L(pixel_stat_from_file)(path="${..pixel_mean.path}", channels=chans, key="std",
                                              upsample=spec.upsample)
    return model


def dct_dataloader(dataloader, channels="24", upsample: int = 2, dtype: str = "float16"):
    """Detectron2's lazy ``dataloader`` (in place) with :class:`DCTDatasetMapper` for train and test."""
    spec = InputSpec(channels, upsample, dtype)
    for split in ("train", "test"):
        mapper = dataloader[split].mapper
        mapper._target_ = DCTDatasetMapper
        mapper.input_spec = L(InputSpec)(channels=list(spec.channels), upsample=spec.upsample, dtype=spec.dtype)
    return dataloader
