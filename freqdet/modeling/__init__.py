"""DCT backbones and the frequency-domain R-CNN meta-architecture (registered on import)."""
from .backbone import DCTStem, build_dct_resnet_backbone, build_dct_resnet_fpn_backbone, dct_input_stride
from .meta_arch import FreqRCNN, dct_pixel_stats

__all__ = [
    "DCTStem", "FreqRCNN", "build_dct_resnet_backbone", "build_dct_resnet_fpn_backbone",
    "dct_input_stride", "dct_pixel_stats",
]
