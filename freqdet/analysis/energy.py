"""Where the signal of images sits among the 192 DCT channels: each channel's share of the energy.

Why look: a few low-frequency channels carry nearly all of it, which is why a static
low-frequency subset (square-24) or a trained gate can drop most channels at little cost.
The block DCT is orthonormal, so (Parseval) the shares split the energy of the centred YCbCr
pixels of each image.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from freqdet.core import image_to_dct

__all__ = ["energy_share"]


def energy_share(images: Iterable[np.ndarray], input_format: str = "RGB") -> np.ndarray:
    """(192,) shares summing to 1: per channel, the mean squared coefficient of each image,
    averaged over ``images`` (HxWx3 uint8, each weighing the same)."""
    per_image = [np.mean(image_to_dct(img, "192", input_format=input_format) ** 2, axis=(1, 2)) for img in images]
    if not per_image:
        raise ValueError("energy_share needs at least one image")
    energy = np.mean(per_image, axis=0)
    return energy / energy.sum()
