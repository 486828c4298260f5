"""The direct block DCT: enlarge, pad, transform every 8x8 block. The test oracle.

:func:`freqdet.core.image_to_dct` computes the same coefficients without building the
enlarged image (:mod:`freqdet.core.fused`); this module is the plain statement of what they
are, kept to test the fast path against.
"""
from __future__ import annotations

import cv2
import numpy as np

from .blockdct import (
    BLOCK,
    _check_image,
    _check_upsample,
    block_basis,
    component_groups,
    dct_grid_size,
)
from .channels import ChannelSpec, parse_channels
from .color import LEVEL_SHIFT, forward_matrix


def image_to_dct_reference(
    image: np.ndarray,
    channels: ChannelSpec = "24",
    upsample: int = 1,
    dtype=np.float32,
    input_format: str = "RGB",
) -> np.ndarray:
    """Block-DCT coefficients of an ``(H, W, 3)`` image, shape ``(C, ceil(H*s/8), ceil(W*s/8))``.

    ``upsample`` (1 or 2) enlarges the image with ``cv2.resize(INTER_LINEAR)`` (on float
    planes: resizing uint8 would round) before the DCT.
    """
    _check_image(image)
    _check_upsample(upsample)
    chans = parse_channels(channels)
    if upsample != 1:
        h, w = image.shape[:2]
        image = cv2.resize(image.astype(np.float32), (w * upsample, h * upsample), interpolation=cv2.INTER_LINEAR)
    h, w = image.shape[:2]
    hb, wb = dct_grid_size(h, w)
    if (hb * BLOCK, wb * BLOCK) != (h, w):
        image = cv2.copyMakeBorder(image, 0, hb * BLOCK - h, 0, wb * BLOCK - w, cv2.BORDER_REPLICATE)
    # Colour conversion and DCT are both linear and act on different axes, so they commute:
    # transform the three colour planes at the frequencies needed, then mix them into
    # Y, Cb, Cr on the (smaller) coefficient arrays. Centring at 128 first keeps float32 exact.
    blocks = image.reshape(hb, BLOCK, wb, BLOCK, 3).transpose(4, 1, 3, 0, 2).reshape(3, 64, hb * wb)
    blocks = blocks.astype(np.float32)
    blocks -= LEVEL_SHIFT
    groups = component_groups(chans)
    freqs = np.unique(np.concatenate([f for _, f, _ in groups]))
    colour_coeffs = block_basis()[freqs].astype(np.float32) @ blocks  # (3 colours, len(freqs), blocks)
    affine = forward_matrix(input_format)
    # (Y, Cb, Cr) - 128 = M (rgb - 128) + offset; offset is 0 for JFIF, kept for generality.
    offset = affine[:, :3].sum(axis=1) * LEVEL_SHIFT + affine[:, 3]
    out = np.empty((len(chans), hb * wb), dtype=np.float32)
    for c, comp_freqs, rows in groups:
        picked = colour_coeffs if len(comp_freqs) == len(freqs) else colour_coeffs[:, np.searchsorted(freqs, comp_freqs)]
        out[rows] = np.tensordot(affine[c, :3].astype(np.float32), picked, axes=1)
        out[rows[comp_freqs == 0]] += BLOCK * offset[c]  # a constant shifts only the DC term
    return out.reshape(len(chans), hb, wb).astype(dtype, copy=False)
