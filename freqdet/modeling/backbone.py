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
from detectron2.modeling.backbone import FPN, ResNet, build_resnet_backbone
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


@BACKBONE_REGISTRY.register()
def build_dct_resnet_backbone(cfg, input_shape: ShapeSpec):
    """ResNet from ``MODEL.RESNETS`` whose res2 takes ``input_shape.channels`` DCT channels.

    The stages are Detectron2's own (same norm, depth, stride_in_1x1, dilation options),
    built by ``build_resnet_backbone`` with the stem width set to C and then put behind
    a :class:`DCTStem`.
    """
    channels = input_shape.channels
    if not channels:
        raise ValueError("build_dct_resnet_backbone needs input_shape.channels (the number of DCT channels)")
    stage_cfg = cfg.clone()
    stage_cfg.defrost()
    stage_cfg.MODEL.RESNETS.STEM_OUT_CHANNELS = channels
    rgb = build_resnet_backbone(stage_cfg, ShapeSpec(channels=3))
    stages = [list(stage.children()) for stage in rgb.stages]
    return ResNet(
        DCTStem(channels, dct_input_stride(cfg)),
        stages,
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
