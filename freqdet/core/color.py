"""JPEG/JFIF full-range BT.601 colour conversion (docs/design.md, "Numeric conventions").

The forward matrix also subtracts the DCT level shift (128 from Y; Cb and Cr are
already centred), so its output is exactly what an 8x8 DCT of JPEG operates on.
"""
from __future__ import annotations

import numpy as np

# Rows Y, Cb, Cr; columns R, G, B.
RGB_TO_YCBCR = np.array(
    [[0.299, 0.587, 0.114],
     [-0.168736, -0.331264, 0.5],
     [0.5, -0.418688, -0.081312]],
    dtype=np.float64,
)
YCBCR_TO_RGB = np.linalg.inv(RGB_TO_YCBCR)
# Offsets that JFIF adds to (Y, Cb, Cr); the DCT works on the values minus 128.
YCBCR_OFFSET = np.array([0.0, 128.0, 128.0])
LEVEL_SHIFT = 128.0

INPUT_FORMATS = ("RGB", "BGR")


def _check_format(input_format: str) -> None:
    if input_format not in INPUT_FORMATS:
        raise ValueError(f"input_format must be one of {INPUT_FORMATS}, got {input_format!r}")


def forward_matrix(input_format: str = "RGB") -> np.ndarray:
    """3x4 affine matrix mapping (R,G,B,1) or (B,G,R,1) to level-shifted (Y,Cb,Cr) - 128."""
    _check_format(input_format)
    m = RGB_TO_YCBCR if input_format == "RGB" else RGB_TO_YCBCR[:, ::-1]
    offset = YCBCR_OFFSET - LEVEL_SHIFT
    return np.concatenate([m, offset[:, None]], axis=1)


def rgb_to_ycbcr(image: np.ndarray, input_format: str = "RGB") -> np.ndarray:
    """(H, W, 3) image -> float32 (H, W, 3) Y, Cb, Cr in JFIF range [0, 255]."""
    affine = forward_matrix(input_format)
    out = image.astype(np.float32) @ affine[:, :3].T.astype(np.float32)
    return out + (affine[:, 3] + LEVEL_SHIFT).astype(np.float32)


def ycbcr_to_rgb(ycbcr: np.ndarray, output_format: str = "RGB") -> np.ndarray:
    """float (H, W, 3) Y, Cb, Cr -> float32 (H, W, 3) RGB (or BGR), not clipped."""
    _check_format(output_format)
    rgb = (ycbcr.astype(np.float64) - YCBCR_OFFSET) @ YCBCR_TO_RGB.T
    if output_format == "BGR":
        rgb = rgb[..., ::-1]
    return rgb.astype(np.float32)
