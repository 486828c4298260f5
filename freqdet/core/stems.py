"""Learned DCT stems: a few layers between the DCT input and the first residual stage.

The paper feeds the C selected DCT channels straight into res2 (``"none"``). An RGB
ResNet has a stem there: a 7x7 conv, norm, ReLU and max-pool that turn 3 colour channels
into 64 features, with a spatial context of 11x11 pixels. These stems give the DCT input
the same room: they map the C channels to the width res2 expects from RGB (64 for ResNet,
32 for MobileNetV2) on the DCT grid (stride 1: the grid already is the stem's stride), so
res2..res5 are the RGB network's blocks unchanged and RGB-pretrained weights fit them.

- ``"none"``: identity; the first block takes C channels (the paper's architecture).
- ``"conv"``: k x k conv -> norm -> ReLU (at s=2 a 3x3 window spans 12x12 pixels, RGB's 11).
- ``"conv2"``: k x k conv to 2x the width -> norm -> ReLU -> 1x1 conv -> norm -> ReLU:
  enough to fit an RGB stem's conv-ReLU-max-pool output (``tools/convert_weights.py --fit-stem``).
- ``"luma_chroma"``: luma and chroma channels through their own k x k convs (3/4 and 1/4 of
  the width), concatenated, then norm -> ReLU: the late-concatenation idea of jpeg_deep, where
  the two components live on different scales and frequencies.

Plain PyTorch: detectors and classifiers share it, each passing its own norm layer.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

__all__ = ["STEMS", "build_dct_stem", "stem_out_channels"]

STEMS = ("none", "conv", "conv2", "luma_chroma")

NormFactory = Callable[[int], nn.Module]


def _group_norm(channels: int) -> nn.Module:
    return nn.GroupNorm(32 if channels % 32 == 0 else 1, channels)


def _conv(cin: int, cout: int, kernel: int) -> nn.Conv2d:
    conv = nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False)
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")  # Detectron2's c2_msra_fill
    return conv


class _ConvStem(nn.Module):
    """``"conv"`` (one layer) and ``"conv2"`` (two layers)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, norm: NormFactory, layers: int):
        super().__init__()
        hidden = out_channels if layers == 1 else 2 * out_channels
        self.conv1, self.norm1 = _conv(in_channels, hidden, kernel), norm(hidden)
        if layers == 2:
            self.conv2, self.norm2 = _conv(hidden, out_channels, 1), norm(out_channels)
        self.layers = layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.norm1(self.conv1(x)))
        if self.layers == 2:
            x = torch.relu(self.norm2(self.conv2(x)))
        return x


class _LumaChromaStem(nn.Module):
    """Luma (Y) and chroma (Cb, Cr) channels convolved apart, then concatenated."""

    def __init__(self, channel_ids: Sequence[int], out_channels: int, kernel: int, norm: NormFactory):
        super().__init__()
        ids = [int(c) for c in channel_ids]
        luma = [i for i, c in enumerate(ids) if c < 64]
        chroma = [i for i, c in enumerate(ids) if c >= 64]
        if not luma or not chroma:
            raise ValueError(f"the luma_chroma stem needs luma and chroma channels; got channels {ids}")
        self.register_buffer("luma_index", torch.tensor(luma), persistent=False)
        self.register_buffer("chroma_index", torch.tensor(chroma), persistent=False)
        luma_out = out_channels * 3 // 4
        self.luma = _conv(len(luma), luma_out, kernel)
        self.chroma = _conv(len(chroma), out_channels - luma_out, kernel)
        self.norm1 = norm(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.cat([self.luma(x.index_select(1, self.luma_index)),
                       self.chroma(x.index_select(1, self.chroma_index))], dim=1)
        return torch.relu(self.norm1(y))


def stem_out_channels(name: str, in_channels: int, out_channels: int) -> int:
    """Channels the first residual block receives behind stem ``name``."""
    _check_name(name)
    return in_channels if name == "none" else out_channels


def _check_name(name: str) -> None:
    if name not in STEMS:
        raise ValueError(f"unknown DCT stem {name!r}; choose one of {', '.join(STEMS)}")


def build_dct_stem(name: str, channel_ids: Sequence[int], out_channels: int = 64, kernel: int = 3,
                   norm: NormFactory = _group_norm) -> nn.Module:
    """The stem ``name`` for the DCT channels ``channel_ids`` (absolute indices c*64+u*8+v, in input
    order); ``norm(width)`` makes each norm layer (GroupNorm by default)."""
    _check_name(name)
    if kernel < 1 or kernel % 2 == 0:
        raise ValueError(f"the DCT stem's kernel must be odd and positive (the grid keeps its size), got {kernel}")
    if out_channels < 1:
        raise ValueError(f"the DCT stem's out_channels must be positive, got {out_channels}")
    c = len(channel_ids)
    if name == "none":
        return nn.Identity()
    if name == "luma_chroma":
        return _LumaChromaStem(channel_ids, out_channels, kernel, norm)
    return _ConvStem(c, out_channels, kernel, norm, layers=1 if name == "conv" else 2)
