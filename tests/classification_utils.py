"""A tiny ImageNet-layout JPEG ImageFolder cut from real photos, and the tiny config the classification tests train with."""
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


# Tiny and fast: 64 px images (8x8 DCT grid), batch 4, 2 iterations, no worker processes, CPU.
TINY = ["INPUT.SIZE", 64, "SOLVER.IMS_PER_BATCH", 4, "SOLVER.MAX_ITER", 2, "DATALOADER.NUM_WORKERS", 0,
        "MODEL.DEVICE", "cpu", "PROGRESS", False, "LOG_PERIOD", 1, "SOLVER.WARMUP_EPOCHS", 0.0]


def tiny_cfg(data, output_dir, *opts):
    """The classification config of a tiny CPU run on ``data`` (TINY, then ``opts``), checked."""
    from freqdet.classification.config import load_classification_config

    return load_classification_config(None, ["DATASETS.ROOT", str(data), "OUTPUT_DIR", str(output_dir), *TINY, *opts])



def train(cfg, resume=False):
    """What tools/train_classifier.py does after its setup: build the trainer from ``cfg``, load, train."""
    from freqdet.classification.trainer import ClassificationTrainer

    trainer = ClassificationTrainer(cfg)
    trainer.resume_or_load(resume=resume)
    return trainer.train()
