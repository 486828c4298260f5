"""The block DCT of :func:`freqdet.core.image_to_dct` in PyTorch, as one fixed strided convolution.

Colour conversion, bilinear x2 upsampling and the DCT are linear, so each output channel is a
fixed ``window x window`` filter of the three colour planes applied with stride 8/s (the same
per-axis taps as :mod:`freqdet.core.fused`: 8x8 at s=1, 6x6 at s=2). One ``conv2d`` therefore
computes the selected channels on any device, inside a model (on-device mode) or an exported
graph, and equals the NumPy path up to float32 rounding (TF32 and autocast are turned off for it).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .blockdct import _check_upsample
from .channels import ChannelSpec, parse_channels
from .color import LEVEL_SHIFT, forward_matrix
from .fused import _axis_taps

__all__ = ["BlockDCT", "images_to_dct"]


class BlockDCT(nn.Module):
    """``(N, 3, H, W)`` images in [0, 255] (uint8 or float, ``input_format`` order) ->
    float32 ``(N, C, ceil(H*s/8), ceil(W*s/8))`` block-DCT coefficients of ``channels``.

    The filter bank is a non-persistent buffer: it follows ``.to(device)`` but stays out of
    state dicts, so checkpoints are the same with and without on-device DCT.
    """

    def __init__(self, channels: ChannelSpec = "24", upsample: int = 1, input_format: str = "RGB"):
        super().__init__()
        _check_upsample(upsample)
        chans = np.asarray(parse_channels(channels))
        comp, u, v = chans // 64, chans % 64 // 8, chans % 8
        colour = forward_matrix(input_format)[comp, :3]  # (C, 3)
        taps_u, taps_v = _axis_taps(u, upsample), _axis_taps(v, upsample)  # (C, window) each
        weight = np.einsum("ci,cy,cx->ciyx", colour, taps_u, taps_v)
        self.register_buffer("weight", torch.as_tensor(weight, dtype=torch.float32), persistent=False)
        self.upsample = upsample
        self.level_shift = float(LEVEL_SHIFT)  # an attribute: TorchScript cannot close over globals
        self.stride = 8 // upsample
        self.window = weight.shape[-1]
        self.lead = (self.window - self.stride) // 2  # 1 at s=2: source sample -1 of the first block

    @property
    def num_channels(self) -> int:
        return self.weight.shape[0]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected (N, 3, H, W) images, got {list(images.shape)}")
        h, w = images.shape[-2], images.shape[-1]
        # ceil with non-negative operands: ONNX integer division truncates, floor_divide of
        # a negative number would export wrongly
        nh, nw = (h * self.upsample + 7) // 8, (w * self.upsample + 7) // 8
        extra = self.window - self.stride - self.lead
        x = images.float() - self.level_shift
        pad = [self.lead, self.stride * nw + extra - w, self.lead, self.stride * nh + extra - h]
        x = F.pad(x, pad, mode="replicate")  # edge replication, as JPEG (and the NumPy path)
        if torch.jit.is_scripting():  # TorchScript has no autocast/cudnn.flags context managers
            return F.conv2d(x, self.weight, stride=self.stride)
        return self._exact_conv(x)

    @torch.jit.unused
    def _exact_conv(self, x: torch.Tensor) -> torch.Tensor:
        """The filter bank in float32 even under autocast, without TF32 (cuDNN)."""
        with torch.autocast(x.device.type, enabled=False), torch.backends.cudnn.flags(
            enabled=torch.backends.cudnn.enabled, benchmark=torch.backends.cudnn.benchmark,
            deterministic=torch.backends.cudnn.deterministic, allow_tf32=False,
        ):
            return F.conv2d(x, self.weight, stride=self.stride)

    def extra_repr(self) -> str:
        return f"channels={self.num_channels}, upsample={self.upsample}"


def images_to_dct(
    images: torch.Tensor,
    channels: ChannelSpec = "24",
    upsample: int = 1,
    input_format: str = "RGB",
) -> torch.Tensor:
    """Block-DCT coefficients of ``(N, 3, H, W)`` (or ``(3, H, W)``) images in [0, 255].

    Returns float32 ``(N, C, ceil(H*s/8), ceil(W*s/8))`` on the images' device, equal to
    :func:`freqdet.core.image_to_dct` up to float rounding.
    """
    if images.dim() == 3:
        return images_to_dct(images[None], channels, upsample, input_format)[0]
    return BlockDCT(channels, upsample, input_format).to(images.device)(images)
