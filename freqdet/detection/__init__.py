"""Detectron2 detection on DCT inputs: config keys, mapper, backbone, FreqRCNN, trainer, export.

Importing this package registers the DCT backbones and ``FreqRCNN`` with Detectron2's registries.
"""
from . import backbone, meta_arch  # noqa: F401  (BACKBONE_REGISTRY, META_ARCH_REGISTRY entries)
from .config import add_freqdet_config, input_spec, load_config
from .mapper import DCTDatasetMapper

__all__ = ["DCTDatasetMapper", "add_freqdet_config", "input_spec", "load_config"]
