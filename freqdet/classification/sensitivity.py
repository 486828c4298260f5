"""A trained DCT classifier as a spectral-sensitivity target: top-1/top-5 over its val folder."""
from __future__ import annotations

from typing import Optional

import torch

from freqdet.analysis.sensitivity import SensitivityTarget

from .evaluation import evaluate_classifier
from .models import ARCHS
from .trainer import ClassificationTrainer

__all__ = ["classifier_target"]


def classifier_target(cfg, max_images: Optional[int] = None) -> SensitivityTarget:
    """``cfg.MODEL.WEIGHTS`` (a checkpoint of tools/train_classifier.py) on (the first ``max_images`` of)
    its val folder, zeroing at the network's input."""
    if not cfg.MODEL.WEIGHTS:
        raise ValueError("set MODEL.WEIGHTS to the trained classifier's checkpoint")
    if ARCHS[cfg.MODEL.ARCH][1] != "dct":
        raise ValueError(f"MODEL.ARCH {cfg.MODEL.ARCH} takes RGB input: spectral sensitivity needs a DCT classifier")
    trainer = ClassificationTrainer(cfg)
    trainer.load_for_eval(cfg.MODEL.WEIGHTS)
    if max_images:
        trainer.val_set = torch.utils.data.Subset(trainer.val_set, range(min(max_images, len(trainer.val_set))))
    batches = list(trainer.build_test_loader())

    def evaluate():
        res = evaluate_classifier(trainer.model, batches)
        return {"top1": res["top1"], "top5": res["top5"]}

    return SensitivityTarget("classifier", evaluate, trainer.net, trainer.channels, "top1", len(trainer.val_set))
