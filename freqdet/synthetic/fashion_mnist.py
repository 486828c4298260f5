"""Fashion-MNIST (Debian's ``dataset-fashion-mnist``) written as an ImageNet-layout JPEG ImageFolder.

A real labelled set that exists offline: the 28x28 grey images are upscaled (bicubic) to
``size`` pixels so that 8x8 DCT blocks cover several source pixels, then saved as JPEG, as
ImageNet is. Class folders are named ``00_t-shirt`` ... ``09_ankle-boot`` so ImageFolder's
sorted order is the dataset's label order.
"""
from __future__ import annotations

import gzip
import os
from typing import Optional

import numpy as np
from PIL import Image
from tqdm import tqdm

__all__ = ["DEBIAN_DIR", "CLASSES", "read_idx", "load_split", "write_image_folder"]

DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
CLASSES = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot")
_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
          "val": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def read_idx(path: str) -> np.ndarray:
    """Read a (gzipped) IDX file of unsigned bytes, the MNIST format."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says {shape} but holds {body.size} bytes")
    return body.reshape(shape)


def load_split(split: str, source: str = DEBIAN_DIR) -> tuple[np.ndarray, np.ndarray]:
    """``(images (N, 28, 28) uint8, labels (N,))`` of ``"train"`` (60000) or ``"val"`` (10000)."""
    paths = [os.path.join(source, name) for name in _FILES[split]]
    for p in paths:
        if not os.path.exists(p):
            raise FileNotFoundError(f"{p} is missing; install it with `apt-get install dataset-fashion-mnist`")
    images, labels = (read_idx(p) for p in paths)
    if len(images) != len(labels):
        raise ValueError(f"{paths[0]} has {len(images)} images but {paths[1]} {len(labels)} labels")
    return images, labels


def write_image_folder(out: str, size: int = 112, per_class: Optional[dict] = None,
                       source: str = DEBIAN_DIR, seed: int = 0, quality: int = 95) -> dict:
    """Write ``out/{train,val}/<class>/<index>.jpg``; ``per_class`` caps images per class per split.

    Balanced, seeded subsets keep the demo small and reproducible. Returns the counts.
    """
    per_class = per_class or {}
    rng = np.random.default_rng(seed)
    counts = {}
    for split in ("train", "val"):
        images, labels = load_split(split, source)
        n = per_class.get(split)
        picks = []
        for c in range(len(CLASSES)):
            idx = np.flatnonzero(labels == c)
            picks.append(np.sort(rng.choice(idx, n, replace=False)) if n and n < len(idx) else idx)
        for c, idx in enumerate(picks):
            os.makedirs(os.path.join(out, split, f"{c:02d}_{CLASSES[c]}"), exist_ok=True)
        total = sum(len(i) for i in picks)
        with tqdm(total=total, desc=f"Fashion-MNIST {split} -> {out}", unit="img") as bar:
            for c, idx in enumerate(picks):
                folder = os.path.join(out, split, f"{c:02d}_{CLASSES[c]}")
                for i in idx:
                    img = Image.fromarray(images[i]).resize((size, size), Image.BICUBIC).convert("RGB")
                    img.save(os.path.join(folder, f"{i:05d}.jpg"), quality=quality)
                    bar.update()
        counts[split] = total
    return counts
