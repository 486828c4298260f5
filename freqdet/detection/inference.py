"""DefaultPredictor for DCT models: same test-time resize, then the DCT instead of an RGB tensor."""
from __future__ import annotations

import numpy as np
import torch
from detectron2.data import transforms as T  # noqa: F401  (AugInput)
from detectron2.modeling import build_model

from .mapper import DCTDatasetMapper
from freqdet.engine.checkpoint import SafeCheckpointer


class DCTPredictor:
    """``predictor(image)`` -> Detectron2 outputs for one image in ``INPUT.FORMAT`` (BGR by default).

    The test-time augmentation and DCT conversion are the test DCTDatasetMapper's, so
    predictions match what ``train_net.py --eval-only`` evaluates.
    """

    def __init__(self, cfg):
        self.cfg = cfg.clone()
        self.model = build_model(self.cfg).eval()
        SafeCheckpointer(self.model).load(cfg.MODEL.WEIGHTS)
        self.mapper = DCTDatasetMapper(self.cfg, is_train=False)
        self.input_format = cfg.INPUT.FORMAT

    @torch.no_grad()
    def __call__(self, image: np.ndarray) -> dict:
        height, width = image.shape[:2]
        aug = T.AugInput(image)
        self.mapper.augmentations(aug)  # the test mapper's AugmentationList (resize)
        inputs = {"image": self.mapper.image_to_input(aug.image), "image_size": aug.image.shape[:2],
                  "height": height, "width": width}
        return self.model([inputs])[0]
