"""ImageNet-layout ImageFolder reading with errors that name the folder or file."""
from __future__ import annotations

import logging
import multiprocessing
import os

from PIL import Image
from torchvision.datasets import ImageFolder

from freqdet.core.image_io import UnreadableImageError, open_image

__all__ = ["NoneIfUnreadable", "UnreadableImageError", "drop_none_collate", "image_folder", "read_rgb"]
logger = logging.getLogger(__name__)


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


class NoneIfUnreadable:
    """``dataset[i]``, or None (logged, counted in shared memory) when its image is unreadable."""

    def __init__(self, dataset):
        self.dataset = dataset
        self.skipped = multiprocessing.Value("q", 0)  # inherited by DataLoader workers

    def __call__(self, index: int):
        try:
            return self.dataset[index]
        except UnreadableImageError as e:
            with self.skipped.get_lock():
                self.skipped.value += 1
                n = self.skipped.value
            logger.warning("skipping unreadable image %s: %s (%d skipped so far; --skip-unreadable)",
                           e.file_name, e.reason, n)
            return None

    __getitem__ = __call__

    def __len__(self) -> int:
        return len(self.dataset)


def drop_none_collate(batch):
    """default_collate over the items that are not None (unreadable images left out of statistics)."""
    import torch.utils.data

    batch = [b for b in batch if b is not None]
    return torch.utils.data.default_collate(batch) if batch else None
