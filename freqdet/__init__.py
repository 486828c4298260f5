"""freqdet: Detectron2 detectors and classifiers that learn from block-DCT inputs.

Importing it registers the DCT backbones and the FreqRCNN meta-architecture with
Detectron2's registries, and the builtin demo dataset names (paths only).
"""
from . import data, modeling  # noqa: F401  (registration by import)
from .config import add_freqdet_config  # noqa: F401
