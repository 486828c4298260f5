"""ImageNet-layout ImageFolder reading with errors that name the folder or file."""
from __future__ import annotations

import os

from PIL import Image
from torchvision.datasets import ImageFolder

__all__ = ["image_folder", "read_rgb"]


def read_rgb(path: str) -> Image.Image:
    """Open an image as RGB; a corrupt or truncated file raises an error naming it."""
    try:
        with open(path, "rb") as f:
            img = Image.open(f)
            return img.convert("RGB")  # forces the full decode while the file is open
    except Exception as e:  # PIL raises several types; the path is what the user needs
        raise OSError(f"cannot read image {path}: {e}") from e


def image_folder(root: str, transform=None) -> ImageFolder:
    """``root/<class>/<image>`` as a torchvision ImageFolder, checked for a usable layout."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"image folder {root} does not exist (expected root/<class>/<image>)")
    try:
        dataset = ImageFolder(root, transform=transform, loader=read_rgb)
    except FileNotFoundError as e:  # no class folders, or class folders without images
        raise FileNotFoundError(f"image folder {root} is not usable as root/<class>/<image>: {e}") from e
    return dataset
