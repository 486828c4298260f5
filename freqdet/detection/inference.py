"""DefaultPredictor for DCT models, and the test-time input every single-image path shares."""
from __future__ import annotations

import numpy as np
import torch
from detectron2.data import transforms as T
from detectron2.modeling import build_model

from freqdet.engine.checkpoint import SafeCheckpointer

from .mapper import DCTDatasetMapper

__all__ = ["DCTPredictor", "build_test_input"]


def build_test_input(mapper: DCTDatasetMapper, image: np.ndarray) -> dict:
    """The model's input dict for one ``(H, W, 3)`` image in ``INPUT.FORMAT``, as the test ``mapper``
    makes it from a file: ``image`` after its augmentations (the test resize; the DCT tensor, or the
    uint8 ``(3, h, w)`` image with on-device DCT), the resized pixel size ``image_size`` and the
    original ``height``/``width``."""
    aug = T.AugInput(image)
    transforms = mapper.augmentations(aug)
    return {"image": mapper.model_input(image, aug.image, transforms), "image_size": tuple(aug.image.shape[:2]),
            "height": image.shape[0], "width": image.shape[1]}


class DCTPredictor:
    """``predictor(image)`` -> Detectron2 outputs for one image in ``INPUT.FORMAT`` (BGR by default).

    The test-time augmentation and DCT conversion are the test DCTDatasetMapper's, so
    predictions match what ``train_net.py --eval-only`` evaluates.
    """

    def __init__(self, cfg):
        self.cfg = cfg.clone()
        self.model = build_model(self.cfg).eval()
        SafeCheckpointer(self.model, allow_partial=cfg.MODEL.WEIGHTS_PARTIAL).load(cfg.MODEL.WEIGHTS)
        self.mapper = DCTDatasetMapper(self.cfg, is_train=False)
        self.input_format = cfg.INPUT.FORMAT

    @torch.no_grad()
    def __call__(self, image: np.ndarray) -> dict:
        return self.model([build_test_input(self.mapper, image)])[0]
