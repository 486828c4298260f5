"""ImageNet classifiers on block-DCT inputs: models, transforms, statistics, training engine.

Names are imported on first access, so ``freqdet.classification.transforms`` (NumPy + Pillow)
stays usable without torch and Detectron2.
"""
import importlib

_EXPORTS = {
    "ARCHS": "models", "MobileNetV2DCT": "models", "ResNetDCT": "models", "build_classifier": "models",
    "mobilenet_v2_dct": "models", "resnet50_dct": "models", "ToDCT": "transforms", "build_transform": "transforms",
}


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
