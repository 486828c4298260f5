"""Detectron2's ResNet(-FPN) with the RGB stem replaced by the DCT input.

The DCT grid already downsamples by 8/s, so the "stem" is the input itself: an identity
block whose stride is 8/s pixels. Strides in ``output_shape()`` are therefore in pixel
units (s=2: res2..res5 = 4..32, s=1: 8..64), as RPN anchors and ROI pooling expect, and
res2's first block takes ``input_shape.channels`` = C channels.
"""
from __future__ import annotations

import math

from detectron2.layers import CNNBlockBase, ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY
from detectron2.modeling.backbone import FPN, ResNet
from detectron2.modeling.backbone.resnet import BasicBlock, BottleneckBlock, DeformBottleneckBlock
from detectron2.modeling.backbone.fpn import LastLevelMaxPool

__all__ = ["DCTStem", "build_dct_resnet_backbone", "build_dct_resnet_fpn_backbone", "dct_input_stride"]


def dct_input_stride(cfg) -> int:
    """Pixels per DCT grid cell: 8 / INPUT.DCT.UPSAMPLE."""
    s = cfg.INPUT.DCT.UPSAMPLE
    if s not in (1, 2):
        raise ValueError(f"INPUT.DCT.UPSAMPLE must be 1 or 2, got {s!r}")
    return 8 // s


class DCTStem(CNNBlockBase):
    """Identity "stem": the DCT tensor enters res2 directly; only its stride is recorded."""

    def __init__(self, channels: int, stride: int):
        super().__init__(channels, channels, stride)

    def forward(self, x):
        return x


_BLOCKS_PER_STAGE = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3], 101: [3, 4, 23, 3], 152: [3, 8, 36, 3]}


def dct_resnet_stages(cfg, in_channels: int) -> list:
    """res2..res5 exactly as Detectron2's ``build_resnet_backbone`` makes them from
    ``MODEL.RESNETS`` (depth, norm, groups, stride_in_1x1, res5 dilation, deform), except
    that res2 takes ``in_channels`` (the DCT channels) instead of the stem's output."""
    r = cfg.MODEL.RESNETS
    depth = r.DEPTH
    if depth not in _BLOCKS_PER_STAGE:
        raise ValueError(f"MODEL.RESNETS.DEPTH must be one of {sorted(_BLOCKS_PER_STAGE)}, got {depth}")
    if r.RES5_DILATION not in (1, 2):
        raise ValueError(f"MODEL.RESNETS.RES5_DILATION must be 1 or 2, got {r.RES5_DILATION}")
    basic = depth in (18, 34)
    if basic and (r.RES2_OUT_CHANNELS != 64 or any(r.DEFORM_ON_PER_STAGE) or r.RES5_DILATION != 1 or r.NUM_GROUPS != 1):
        raise ValueError("R18/R34 need RES2_OUT_CHANNELS 64, no deform, RES5_DILATION 1, NUM_GROUPS 1")
    out_channels, bottleneck = r.RES2_OUT_CHANNELS, r.NUM_GROUPS * r.WIDTH_PER_GROUP
    stages = []
    for idx, n in enumerate(_BLOCKS_PER_STAGE[depth]):
        dilation = r.RES5_DILATION if idx == 3 else 1
        first_stride = 1 if idx == 0 or (idx == 3 and dilation == 2) else 2
        kw = dict(num_blocks=n, stride_per_block=[first_stride] + [1] * (n - 1),
                  in_channels=in_channels, out_channels=out_channels, norm=r.NORM)
        if basic:
            kw["block_class"] = BasicBlock
        else:
            kw.update(bottleneck_channels=bottleneck, stride_in_1x1=r.STRIDE_IN_1X1, dilation=dilation,
                      num_groups=r.NUM_GROUPS, block_class=BottleneckBlock)
            if r.DEFORM_ON_PER_STAGE[idx]:
                kw.update(block_class=DeformBottleneckBlock, deform_modulated=r.DEFORM_MODULATED,
                          deform_num_groups=r.DEFORM_NUM_GROUPS)
        stages.append(ResNet.make_stage(**kw))
        in_channels, out_channels, bottleneck = out_channels, out_channels * 2, bottleneck * 2
    return stages


@BACKBONE_REGISTRY.register()
def build_dct_resnet_backbone(cfg, input_shape: ShapeSpec):
    """ResNet from ``MODEL.RESNETS`` behind a :class:`DCTStem`; res2 takes ``input_shape.channels``."""
    channels = input_shape.channels
    if not channels:
        raise ValueError("build_dct_resnet_backbone needs input_shape.channels (the number of DCT channels)")
    return ResNet(
        DCTStem(channels, dct_input_stride(cfg)),
        dct_resnet_stages(cfg, channels),
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
    top_block = LastLevelMaxPool()
    top_block.in_feature = f"p{int(math.log2(bottom_up.output_shape()[in_features[-1]].stride))}"
    return FPN(
        bottom_up=bottom_up,
        in_features=in_features,
        out_channels=cfg.MODEL.FPN.OUT_CHANNELS,
        norm=cfg.MODEL.FPN.NORM,
        top_block=top_block,
        fuse_type=cfg.MODEL.FPN.FUSE_TYPE,
    )
