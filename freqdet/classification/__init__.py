"""ImageNet classifiers on block-DCT inputs: models, transforms, statistics, config, trainer, evaluator.

Names are imported on first access, so ``freqdet.classification.transforms`` (NumPy + Pillow)
stays usable without torch and Detectron2 (the config, trainer and evaluator need Detectron2).
"""
import importlib

_EXPORTS = {
    "ARCHS": "models", "MobileNetV2DCT": "models", "ResNetDCT": "models", "build_classifier": "models",
    "mobilenet_v2_dct": "models", "resnet50_dct": "models", "ToDCT": "transforms", "build_transform": "transforms",
    "add_classification_config": "config", "get_classification_cfg": "config",
    "load_classification_config": "config", "ClassificationTrainer": "trainer",
    "ClassificationEvaluator": "evaluation", "evaluate_classifier": "evaluation",
}


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
