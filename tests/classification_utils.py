"""A tiny ImageNet-layout JPEG ImageFolder cut from real photos, for the classification tests."""
import os

import numpy as np
from PIL import Image


def write_tiny_imagefolder(root, photos, size=64, train_per_class=4, val_per_class=2, seed=0):
    """``root/{train,val}/<photo name>/<i>.jpg``: random crops of each photo, resized to ``size``."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", train_per_class), ("val", val_per_class)):
        for name in ("astronaut", "coffee", "chelsea"):
            img = photos[name]
            os.makedirs(os.path.join(root, split, name), exist_ok=True)
            h, w = img.shape[:2]
            for i in range(n):
                side = int(rng.integers(min(h, w) // 2, min(h, w) + 1))
                y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
                crop = Image.fromarray(img[y:y + side, x:x + side]).resize((size, size), Image.BILINEAR)
                crop.save(os.path.join(root, split, name, f"{i}.jpg"), quality=90)
    return str(root)
