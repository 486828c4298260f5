"""What every part of freqdet shares, with no Detectron2: the transforms (colour, block DCT/IDCT,
channel subsets), the statistics and selection-rate files, the gate module and the plots.

This package's ``__init__`` imports only the NumPy/OpenCV transforms; the torch parts
(:mod:`.torch_dct`, :mod:`.gate`, :mod:`.safe_load`) are imported from their modules.
"""
from .blockdct import block_basis, dct_grid_size, dct_matrix, dct_to_image
from .channels import (
    COMPONENTS,
    NUM_CHANNELS,
    as_channel_array,
    channel_name,
    named_subsets,
    parse_channels,
    zigzag_order,
    zigzag_rank,
)
from .color import rgb_to_ycbcr, ycbcr_to_rgb
from .fused import image_to_dct
from .input_spec import InputSpec

__all__ = [
    "COMPONENTS", "InputSpec", "NUM_CHANNELS", "as_channel_array", "block_basis", "channel_name", "dct_grid_size", "dct_matrix",
    "dct_to_image", "image_to_dct", "named_subsets", "parse_channels", "rgb_to_ycbcr", "ycbcr_to_rgb",
    "zigzag_order", "zigzag_rank",
]
