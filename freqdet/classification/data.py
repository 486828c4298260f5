"""ImageNet-layout ImageFolder reading with errors that name the folder or file."""
from __future__ import annotations

import os

from PIL import Image
from torchvision.datasets import ImageFolder

from ..data.image_io import UnreadableImageError, open_image

__all__ = ["UnreadableImageError", "image_folder", "read_rgb"]


def read_rgb(path: str) -> Image.Image:
    """The RGB image of ``path`` as Detectron2 reads it (EXIF orientation applied, 16-bit grey scaled
    to 8 bits, alpha dropped); an undecodable file raises :class:`UnreadableImageError` naming it."""
    return open_image(path).convert("RGB")


def image_folder(root: str, transform=None) -> ImageFolder:
    """``root/<class>/<image>`` as a torchvision ImageFolder, checked for a usable layout."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"image folder {root} does not exist (expected root/<class>/<image>)")
    try:
        dataset = ImageFolder(root, transform=transform, loader=read_rgb)
    except FileNotFoundError as e:  # no class folders, or class folders without images
        raise FileNotFoundError(f"image folder {root} is not usable as root/<class>/<image>: {e}") from e
    return dataset
