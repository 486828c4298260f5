"""Detectron2's ResNet(-FPN) with the RGB stem replaced by the DCT input.

The DCT grid already downsamples by 8/s, so the stem keeps the grid: by default it is the
input itself (the paper: res2's first block takes the C DCT channels), or a learned stem of
:mod:`freqdet.core.stems` (``MODEL.DCT_STEM``) that maps the C channels to RGB's 64 features.
Its stride is 8/s pixels, so strides in ``output_shape()`` are in pixel units (s=2:
res2..res5 = 4..32, s=1: 8..64), as RPN anchors and ROI pooling expect.
"""
from __future__ import annotations

import math

from detectron2.layers import CNNBlockBase, ShapeSpec, get_norm
from detectron2.modeling import BACKBONE_REGISTRY
from detectron2.modeling.backbone import FPN, ResNet
from detectron2.modeling.backbone.resnet import BasicBlock, BottleneckBlock, DeformBottleneckBlock
from detectron2.modeling.backbone.fpn import LastLevelMaxPool

from freqdet.core.stems import build_dct_stem, stem_out_channels

from .config import input_spec

__all__ = ["DCTStem", "build_dct_resnet_backbone", "dct_stem", "build_dct_resnet_fpn_backbone", "last_level_max_pool",
           "make_dct_stages"]


class DCTStem(CNNBlockBase):
    """The DCT input's stem on the DCT grid (stride ``stride`` pixels): identity for ``name="none"``
    (res2 takes the ``channels`` DCT channels), else the learned layers of
    :func:`freqdet.core.stems.build_dct_stem` as ``self.body`` (res2 takes ``out_channels``).

    ``channel_ids``: the input's absolute channel indices (the luma/chroma split needs them);
    ``norm``: a Detectron2 norm name, as ``MODEL.RESNETS.NORM``.
    """

    def __init__(self, channels: int, stride: int, name: str = "none", channel_ids=None, out_channels: int = 64,
                 kernel: int = 3, norm="FrozenBN"):
        super().__init__(channels, stem_out_channels(name, channels, out_channels), stride)
        ids = list(range(channels)) if channel_ids is None else list(channel_ids)
        if len(ids) != channels:
            raise ValueError(f"DCTStem got {len(ids)} channel_ids for {channels} channels")
        self.body = build_dct_stem(name, ids, out_channels, kernel, norm=lambda c: get_norm(norm, c))

    def forward(self, x):
        return self.body(x)


def dct_stem(cfg, channels: int) -> DCTStem:
    """The :class:`DCTStem` of ``MODEL.DCT_STEM`` (norm: ``MODEL.RESNETS.NORM``, as Detectron2's RGB stem)."""
    spec, s = input_spec(cfg), cfg.MODEL.DCT_STEM
    ids = list(spec.channels) if spec.num_channels == channels else None  # a gate's 192 channels: all of them
    return DCTStem(channels, spec.stride, s.NAME, ids, s.OUT_CHANNELS, s.KERNEL, cfg.MODEL.RESNETS.NORM)


_BLOCKS_PER_STAGE = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3], 101: [3, 4, 23, 3], 152: [3, 8, 36, 3]}


def dct_resnet_stages(cfg, in_channels: int) -> list:
    """res2..res5 exactly as Detectron2's ``build_resnet_backbone`` makes them from
    ``MODEL.RESNETS`` (depth, norm, groups, stride_in_1x1, res5 dilation, deform), except
    that res2 takes ``in_channels`` (the DCT stem's output) instead of the RGB stem's 64."""
    r = cfg.MODEL.RESNETS
    return make_dct_stages(
        r.DEPTH, in_channels, norm=r.NORM, stride_in_1x1=r.STRIDE_IN_1X1, res2_out_channels=r.RES2_OUT_CHANNELS,
        num_groups=r.NUM_GROUPS, width_per_group=r.WIDTH_PER_GROUP, res5_dilation=r.RES5_DILATION,
        deform_on_per_stage=r.DEFORM_ON_PER_STAGE, deform_modulated=r.DEFORM_MODULATED,
        deform_num_groups=r.DEFORM_NUM_GROUPS,
    )


def make_dct_stages(depth: int = 50, in_channels: int = 24, *, norm="FrozenBN", stride_in_1x1: bool = True,
                    res2_out_channels: int = 256, num_groups: int = 1, width_per_group: int = 64,
                    res5_dilation: int = 1, deform_on_per_stage=(False, False, False, False),
                    deform_modulated: bool = False, deform_num_groups: int = 1) -> list:
    """``ResNet.make_default_stages`` with res2 taking ``in_channels`` DCT channels (Detectron2's
    hard-codes the RGB stem's 64); the keywords are ``MODEL.RESNETS``'s, so LazyConfigs
    (``L(make_dct_stages)(depth=50, in_channels=24)``) and yacs configs build the same stages."""
    if depth not in _BLOCKS_PER_STAGE:
        raise ValueError(f"MODEL.RESNETS.DEPTH must be one of {sorted(_BLOCKS_PER_STAGE)}, got {depth}")
    if res5_dilation not in (1, 2):
        raise ValueError(f"MODEL.RESNETS.RES5_DILATION must be 1 or 2, got {res5_dilation}")
    basic = depth in (18, 34)
    if basic and (res2_out_channels != 64 or any(deform_on_per_stage) or res5_dilation != 1 or num_groups != 1):
        raise ValueError("R18/R34 need RES2_OUT_CHANNELS 64, no deform, RES5_DILATION 1, NUM_GROUPS 1")
    out_channels, bottleneck = res2_out_channels, num_groups * width_per_group
    stages = []
    for idx, n in enumerate(_BLOCKS_PER_STAGE[depth]):
        dilation = res5_dilation if idx == 3 else 1
        first_stride = 1 if idx == 0 or (idx == 3 and dilation == 2) else 2
        kw = dict(num_blocks=n, stride_per_block=[first_stride] + [1] * (n - 1),
                  in_channels=in_channels, out_channels=out_channels, norm=norm)
        if basic:
            kw["block_class"] = BasicBlock
        else:
            kw.update(bottleneck_channels=bottleneck, stride_in_1x1=stride_in_1x1, dilation=dilation,
                      num_groups=num_groups, block_class=BottleneckBlock)
            if deform_on_per_stage[idx]:
                kw.update(block_class=DeformBottleneckBlock, deform_modulated=deform_modulated,
                          deform_num_groups=deform_num_groups)
        stages.append(ResNet.make_stage(**kw))
        in_channels, out_channels, bottleneck = out_channels, out_channels * 2, bottleneck * 2
    return stages


def last_level_max_pool(in_feature: str = "p5") -> LastLevelMaxPool:
    """FPN's extra max-pooled level reading ``in_feature`` ("p6" when s=1 names the levels p3..p7)."""
    top_block = LastLevelMaxPool()
    top_block.in_feature = in_feature
    return top_block


@BACKBONE_REGISTRY.register()
def build_dct_resnet_backbone(cfg, input_shape: ShapeSpec):
    """ResNet from ``MODEL.RESNETS`` behind the :class:`DCTStem` of ``MODEL.DCT_STEM`` on the
    ``input_shape.channels`` DCT channels."""
    channels = input_shape.channels
    if not channels:
        raise ValueError("build_dct_resnet_backbone needs input_shape.channels (the number of DCT channels)")
    stem = dct_stem(cfg, channels)
    return ResNet(
        stem,
        dct_resnet_stages(cfg, stem.out_channels),
        out_features=cfg.MODEL.RESNETS.OUT_FEATURES,
        freeze_at=cfg.MODEL.BACKBONE.FREEZE_AT,
    )


@BACKBONE_REGISTRY.register()
def build_dct_resnet_fpn_backbone(cfg, input_shape: ShapeSpec):
    """FPN (P2..P6 as ``build_resnet_fpn_backbone``) on the DCT ResNet.

    Detectron2 names FPN levels by pixel stride, so with s=1 they are p3..p7; the top
    max-pool level must then read the last level ("p6"), not LastLevelMaxPool's fixed "p5".
    """
    bottom_up = build_dct_resnet_backbone(cfg, input_shape)
    in_features = cfg.MODEL.FPN.IN_FEATURES
    top_block = last_level_max_pool(f"p{int(math.log2(bottom_up.output_shape()[in_features[-1]].stride))}")
    return FPN(
        bottom_up=bottom_up,
        in_features=in_features,
        out_channels=cfg.MODEL.FPN.OUT_CHANNELS,
        norm=cfg.MODEL.FPN.NORM,
        top_block=top_block,
        fuse_type=cfg.MODEL.FPN.FUSE_TYPE,
    )
