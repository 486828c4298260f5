"""freqdet: Detectron2 detectors and classifiers that learn from block-DCT inputs.

Importing it registers the DCT backbones, the FreqRCNN meta-architecture and the builtin demo
dataset names (paths only) with Detectron2's registries: at once when Detectron2 is already
imported, else as soon as it is (see :mod:`freqdet._registration`). The pure transforms
(:mod:`freqdet.dct`, :mod:`freqdet.classification.transforms`) import neither Detectron2 nor
torch, so they also serve plain NumPy / torchvision pipelines.
"""
import importlib

from ._registration import register_with_detectron2

_SUBMODULES = ("classification", "config", "data", "dct", "engine", "model_zoo", "modeling", "visualize")

register_with_detectron2()


def __getattr__(name):
    """``freqdet.add_freqdet_config`` and the subpackages, imported on first access."""
    if name == "add_freqdet_config":
        return importlib.import_module(".config", __name__).add_freqdet_config
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'freqdet' has no attribute {name!r}")


__all__ = ["add_freqdet_config", *_SUBMODULES]
