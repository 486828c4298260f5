"""DCT backbones, the frequency-domain R-CNN meta-architecture (registered on import) and the gate."""
from .backbone import DCTStem, build_dct_resnet_backbone, build_dct_resnet_fpn_backbone, dct_input_stride
from .gate import FrequencyGate, find_gates, fraction_on, lambda_at, tau_at
from .meta_arch import FreqRCNN, dct_pixel_stats

__all__ = [
    "DCTStem", "FreqRCNN", "FrequencyGate", "build_dct_resnet_backbone", "build_dct_resnet_fpn_backbone",
    "dct_input_stride", "dct_pixel_stats", "find_gates", "fraction_on", "lambda_at", "tau_at",
]
