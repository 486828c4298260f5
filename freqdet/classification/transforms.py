"""torchvision-style transforms that turn an RGB image into a normalised DCT tensor.

Plain classes (no lambdas), so ``DataLoader`` workers can pickle them. The DCT is
:func:`freqdet.core.image_to_dct` (JPEG's YCbCr, orthonormal 8x8 DCT-II, natural channel
order), so ImageNet training and detection see the same coefficients. torch and torchvision
are imported where they are used, so importing this module needs only NumPy and Pillow.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from PIL import Image

from freqdet.core import image_to_dct, parse_channels
from freqdet.core.channels import ChannelSpec

__all__ = [
    "ToDCT", "build_transform", "default_resize", "IMAGENET_RGB_MEAN", "IMAGENET_RGB_STD",
    "DCT_SIZE", "RGB_SIZE",
]

# The paper's sizes: DCT models crop 448 (Resize 512), the RGB baselines 224 (Resize 256).
DCT_SIZE = 448
RGB_SIZE = 224
IMAGENET_RGB_MEAN = (0.485, 0.456, 0.406)
IMAGENET_RGB_STD = (0.229, 0.224, 0.225)


def default_resize(size: int) -> int:
    """Validation resize for a crop ``size``: ImageNet's 256/224 = 512/448 ratio."""
    return int(round(size * 8 / 7))


class ToDCT:
    """PIL image or ``(H, W, 3)`` RGB uint8 array -> float32 tensor ``(C, ceil(H/8), ceil(W/8))``."""

    def __init__(self, channels: ChannelSpec = "24", upsample: int = 1):
        self.channels = parse_channels(channels)
        self.upsample = upsample

    def __call__(self, image) -> "torch.Tensor":  # noqa: F821
        import torch

        if isinstance(image, Image.Image):
            image = np.asarray(image.convert("RGB"))
        coeffs = image_to_dct(image, self.channels, upsample=self.upsample, input_format="RGB")
        return torch.from_numpy(coeffs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_channels={len(self.channels)}, upsample={self.upsample})"


def build_transform(
    domain: str,
    train: bool,
    size: Optional[int] = None,
    resize: Optional[int] = None,
    channels: ChannelSpec = "24",
    mean: Optional[Sequence[float]] = None,
    std: Optional[Sequence[float]] = None,
    crop_scale: tuple[float, float] = (0.08, 1.0),
    on_device: bool = False,
) -> "T.Compose":  # noqa: F821
    """The paper's recipe for ``domain`` ``"dct"`` or ``"rgb"``.

    train: RandomResizedCrop(size, crop_scale) + horizontal flip; val: Resize(resize) + CenterCrop(size).
    DCT then gives ``(C, size/8, size/8)`` normalised with ``mean``/``std`` (per selected
    channel, from :mod:`freqdet.classification.stats`; omitted = no normalisation, as the
    statistics tool uses). RGB gives ``(3, size, size)`` with ImageNet's statistics by default.
    ``on_device`` (DCT only): stop at the uint8 ``(3, size, size)`` crop, RGB's bytes; the model's
    :class:`freqdet.classification.models.DCTInput` does the DCT and normalisation.
    """
    from torchvision import transforms as T

    if domain not in ("dct", "rgb"):
        raise ValueError(f"domain must be 'dct' or 'rgb', got {domain!r}")
    size = size or (DCT_SIZE if domain == "dct" else RGB_SIZE)
    resize = resize or default_resize(size)
    if train:
        geometric = [T.RandomResizedCrop(size, scale=tuple(crop_scale)), T.RandomHorizontalFlip()]
    else:
        geometric = [T.Resize(resize), T.CenterCrop(size)]
    if domain == "rgb":
        mean = IMAGENET_RGB_MEAN if mean is None else mean
        std = IMAGENET_RGB_STD if std is None else std
        return T.Compose([*geometric, T.ToTensor(), T.Normalize(mean, std)])
    if on_device:
        return T.Compose([*geometric, T.PILToTensor()])
    steps = [*geometric, ToDCT(channels)]
    if (mean is None) != (std is None):
        raise ValueError("give both mean and std, or neither")
    if mean is not None:
        n = len(parse_channels(channels))
        if len(mean) != n or len(std) != n:
            raise ValueError(f"mean/std have {len(mean)}/{len(std)} entries for {n} channels")
        if min(std) <= 0:
            raise ValueError("std entries must be positive")
        steps.append(T.Normalize(list(map(float, mean)), list(map(float, std))))
    return T.Compose(steps)
