"""The 8x8 block DCT-II shared by every implementation: its matrices, grid size and inverse.

Each block of (x - 128) is transformed by the orthonormal 2-D DCT-II, the scale of
``scipy.fft.dctn(block, norm="ortho")`` and of dequantized JPEG coefficients. The forward
transform of images is :func:`freqdet.core.image_to_dct` (:mod:`.fused`); :mod:`.reference`
states it plainly for the tests.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .channels import NUM_CHANNELS, ChannelSpec, parse_channels
from .color import LEVEL_SHIFT, ycbcr_to_rgb

BLOCK = 8
UPSAMPLE_FACTORS = (1, 2)


@lru_cache(maxsize=None)
def dct_matrix(n: int = BLOCK) -> np.ndarray:
    """Orthonormal DCT-II matrix ``D[u, x]``: coefficients = D @ signal."""
    x = np.arange(n)
    d = np.cos(np.pi * (2 * x[None, :] + 1) * x[:, None] / (2 * n)) * np.sqrt(2.0 / n)
    d[0] /= np.sqrt(2.0)
    return d


@lru_cache(maxsize=None)
def block_basis() -> np.ndarray:
    """(64, 64) float64 matrix; row ``u*8+v`` is the basis image of frequency (u, v), flattened."""
    d = dct_matrix()
    return np.einsum("ux,vy->uvxy", d, d).reshape(64, 64)


def component_groups(channels: list[int]) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Split channel indices into ``(component, frequencies, output_rows)`` per component."""
    channels = np.asarray(channels)
    groups = []
    for c in range(3):
        rows = np.flatnonzero(channels // 64 == c)
        if rows.size:
            groups.append((c, channels[rows] % 64, rows))
    return groups


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", type(image).__name__)
        raise ValueError(f"expected an (H, W, 3) image array, got {shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image has an empty side: {image.shape}")


def _check_upsample(upsample: int) -> None:
    if upsample not in UPSAMPLE_FACTORS:
        raise ValueError(f"upsample must be one of {UPSAMPLE_FACTORS}, got {upsample!r}")


def dct_grid_size(height: int, width: int, upsample: int = 1) -> tuple[int, int]:
    """Size of the DCT grid of an image: ``ceil(H*s/8), ceil(W*s/8)``."""
    return -(-height * upsample // BLOCK), -(-width * upsample // BLOCK)


def dct_to_image(
    coeffs: np.ndarray,
    channels: ChannelSpec = "192",
    output_format: str = "RGB",
    upsample: int = 1,
    size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Inverse of :func:`image_to_dct`: uint8 ``(H, W, 3)`` image in ``output_format``.

    Channels missing from ``channels`` are taken as zero, so a subset gives its low-pass
    reconstruction: what a network fed with that subset sees. Without ``size`` and with
    ``upsample=1`` the result covers the whole DCT grid, ``(8*h, 8*w)``. With ``size=(H, W)``
    (the image's pixel size) the grid padding is cropped off, and ``upsample=2`` halves the
    reconstruction back to pixel resolution (area average), so boxes in pixels line up with it.
    """
    _check_upsample(upsample)
    chans = parse_channels(channels)
    if coeffs.ndim != 3 or coeffs.shape[0] != len(chans):
        raise ValueError(f"expected coefficients of shape ({len(chans)}, h, w), got {coeffs.shape}")
    _, hb, wb = coeffs.shape
    full = np.zeros((NUM_CHANNELS, hb * wb), dtype=np.float64)
    full[chans] = coeffs.reshape(len(chans), -1)
    blocks = block_basis().T @ full.reshape(3, 64, hb * wb)  # (3, 64, hb*wb) pixel values
    planes = blocks.reshape(3, BLOCK, BLOCK, hb, wb).transpose(3, 1, 4, 2, 0).reshape(hb * BLOCK, wb * BLOCK, 3)
    ycbcr = planes + LEVEL_SHIFT
    rgb = ycbcr_to_rgb(ycbcr, output_format)
    image = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    if size is None and upsample == 1:
        return image
    h, w = size if size is not None else (image.shape[0] // upsample, image.shape[1] // upsample)
    if h * upsample > image.shape[0] or w * upsample > image.shape[1]:
        raise ValueError(f"size {(h, w)} at upsample {upsample} exceeds the DCT grid's {image.shape[:2]} pixels")
    image = np.ascontiguousarray(image[: h * upsample, : w * upsample])
    if upsample == 1:
        return image
    import cv2

    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
