"""A texture-classification ImageFolder cut from large real photos (Debian's mate-backgrounds).

Why this set: the accuracy study needs real photographs whose classes are told apart by fine
detail, so that a downsized RGB input loses information a DCT input of the larger image keeps.
Offline, the best available are the 1.3-5 MPix nature photos of ``mate-backgrounds`` (wood
grain, dune ripples, rain drops, meadow grass, flowers, ...): each photo is one class and the
samples are random square patches of it, written at ``size`` px (DCT model input) so the RGB
model at ``size/4`` sees the same field of view with a quarter of the side. Train and val
patches come from disjoint parts of each photo (left and right of a vertical cut), so val is not
the training pixels again. Caveat: 12 classes, one photo each: this measures texture/detail
recognition, not generalisation across object instances as ImageNet does.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from .shapes import MATE_DIR, mate_photo_files

__all__ = ["write_patch_folder"]

TRAIN_FRACTION = 0.7  # of each photo's width: train patches left of the cut, val patches right of it


def write_patch_folder(root, num_train: int = 60, num_val: int = 20, size: int = 128, patch=(256, 512),
                       seed: int = 0, photo_dir: str = MATE_DIR, quality: int = 92) -> str:
    """Write ``root/{train,val}/<photo>/<i>.jpg`` (``num_train``/``num_val`` per class); returns ``root``.

    A patch is a random square of side in ``patch`` (source pixels), resized to ``size`` with
    INTER_AREA. Deterministic for a seed; an existing complete folder is left as it is.
    """
    files = mate_photo_files(photo_dir)
    root = Path(root)
    stamp = root / f".complete_{num_train}_{num_val}_{size}_{patch[0]}_{patch[1]}_{seed}"
    if stamp.exists():
        return str(root)
    for k, f in enumerate(files):
        photo = np.asarray(Image.open(f).convert("RGB"))
        h, w = photo.shape[:2]
        cut = int(w * TRAIN_FRACTION)
        for split, n, (x_lo, x_hi) in (("train", num_train, (0, cut)), ("val", num_val, (cut, w))):
            rng = np.random.default_rng([seed, k, split == "val"])
            out = root / split / f.stem
            os.makedirs(out, exist_ok=True)
            for i in range(n):
                side = int(min(rng.integers(patch[0], patch[1] + 1), h, x_hi - x_lo))
                y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(x_lo, x_hi - side + 1))
                crop = cv2.resize(photo[y:y + side, x:x + side], (size, size), interpolation=cv2.INTER_AREA)
                Image.fromarray(crop).save(out / f"{i:04d}.jpg", quality=quality)
    stamp.touch()
    return str(root)
