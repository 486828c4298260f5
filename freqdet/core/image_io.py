"""Decoding images the way Detectron2 does, with errors that name the file and the reason.

:func:`read_image` is :func:`detectron2.data.detection_utils.read_image` (Pillow, EXIF orientation
applied, converted to ``format``) with two differences:

- a file that cannot be opened (missing, a directory, no read permission) or that Pillow cannot
  decode (empty, truncated, not an image, too large) raises :class:`UnreadableImageError` naming
  the file and why, instead of a bare ``FileNotFoundError`` or Pillow's message, so skip modes
  and error messages treat every unusable image alike;
- 16-bit greyscale (PNG ``I;16``, or ``I``) is scaled to 8 bits (``>> 8``): Pillow's own
  conversion clips it at 255, which turns most such images white. (16-bit RGB PNGs Pillow
  already reads as 8-bit RGB.)

Everything else (greyscale, CMYK, progressive and subsampled JPEGs, palette PNGs, alpha, which is
dropped as Detectron2 drops it) is left to the caller's conversion (Detectron2's
``convert_PIL_to_numpy`` for detection, ``Image.convert("RGB")`` for classification), so the pixels,
and therefore boxes and masks, are exactly those of Detectron2's RGB ``DatasetMapper``.
Only Pillow and NumPy: no Detectron2 here.
"""
from __future__ import annotations

import os

import numpy as np
from PIL import Image, ImageOps

__all__ = ["UnreadableImageError", "open_image"]

_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")


class UnreadableImageError(OSError):
    """An image file that cannot be opened or decoded; ``file_name`` and ``reason`` say which and why."""

    def __init__(self, file_name: str, reason: str):
        super().__init__(f"cannot read image {file_name}: {reason}")
        self.file_name = file_name
        self.reason = reason


def _reason(f, error: Exception) -> str:
    f.seek(0, 2)
    size = f.tell()
    if size == 0:
        return "the file is empty (0 bytes)"
    if isinstance(error, Image.UnidentifiedImageError):
        f.seek(0)
        return f"not an image format Pillow can decode ({size} bytes, starting {f.read(12)!r})"
    return f"{type(error).__name__}: {error}"


def _open_failure(file_name: str, error: OSError) -> str:
    if isinstance(error, FileNotFoundError):
        if os.path.islink(file_name):
            return f"it is a link to {os.readlink(file_name)!r}, which does not exist"
        return "the file does not exist"
    if isinstance(error, IsADirectoryError):
        return "it is a directory, not a file"
    if isinstance(error, PermissionError):
        return "permission denied (the file is not readable by this user)"
    return f"cannot open it ({type(error).__name__}: {error})"


def open_image(file_name: str, opener=open) -> Image.Image:
    """The decoded, EXIF-oriented Pillow image of ``file_name`` (16-bit grey already scaled to 8 bits).

    ``opener(file_name, "rb")`` opens the file (e.g. iopath's ``PathManager.open`` for remote paths).
    Any failure to open or decode raises :class:`UnreadableImageError`."""
    try:
        opened = opener(file_name, "rb")
    except OSError as e:
        raise UnreadableImageError(file_name, _open_failure(file_name, e)) from e
    with opened as f:
        try:
            image = Image.open(f)
            image.load()  # decode now, while the file is open: truncation shows here
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
            raise UnreadableImageError(file_name, _reason(f, e)) from e
    image = ImageOps.exif_transpose(image)  # Detectron2's _apply_exif_orientation, same transposes
    if image.mode in _SIXTEEN_BIT:
        image = Image.fromarray((np.clip(np.asarray(image, dtype=np.int64), 0, 65535) >> 8).astype(np.uint8), "L")
    return image
