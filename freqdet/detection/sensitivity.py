"""A trained FreqRCNN as a spectral-sensitivity target: COCO AP over its test set, inputs mapped once."""
from __future__ import annotations

from typing import Optional

from detectron2.data import DatasetCatalog, build_detection_test_loader
from detectron2.evaluation import inference_on_dataset
from detectron2.modeling import build_model

from freqdet.analysis.sensitivity import SensitivityTarget
from freqdet.engine.checkpoint import SafeCheckpointer

from .config import input_spec
from .evaluation import COCOEvaluator
from .mapper import DCTDatasetMapper

__all__ = ["COCO_KEYS", "detector_target"]

COCO_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl")


def detector_target(cfg, max_images: Optional[int] = None) -> SensitivityTarget:
    """``cfg.MODEL.WEIGHTS`` on (the first ``max_images`` of) ``DATASETS.TEST[0]``; metrics ``bbox/AP`` etc.,
    zeroing at the backbone's input (the normalized, and gated, DCT tensor)."""
    if not cfg.MODEL.WEIGHTS:
        raise ValueError("set MODEL.WEIGHTS to the trained detector's checkpoint")
    model = build_model(cfg).eval()
    SafeCheckpointer(model).load(cfg.MODEL.WEIGHTS)
    name = cfg.DATASETS.TEST[0]
    dicts = DatasetCatalog.get(name)[:max_images or None]
    loader = build_detection_test_loader(dicts, mapper=DCTDatasetMapper(cfg, is_train=False),
                                         num_workers=cfg.DATALOADER.NUM_WORKERS)
    batches = list(loader)  # mapped once, reused for every unit
    image_ids = [d["image_id"] for d in dicts]

    class ImagesRunEvaluator(COCOEvaluator):
        """COCOEvaluator over the images actually run (with max_images the others are not misses)."""

        def evaluate(self, img_ids=None):
            return super().evaluate(img_ids=img_ids or image_ids)

    evaluator = ImagesRunEvaluator(name, output_dir=None)

    def evaluate():
        res = inference_on_dataset(model, batches, evaluator)  # resets the evaluator first
        return {f"{task}/{k}": float(v) for task, r in res.items() for k, v in r.items() if k in COCO_KEYS}

    return SensitivityTarget("detector", evaluate, model.backbone, list(input_spec(cfg).channels), "bbox/AP",
                             len(dicts))
