"""Pure frequency transforms (no Detectron2): colour, block DCT/IDCT, channel subsets."""
from .blockdct import block_basis, dct_grid_size, dct_matrix, dct_to_image
from .channels import (
    COMPONENTS,
    NUM_CHANNELS,
    channel_name,
    named_subsets,
    parse_channels,
    zigzag_order,
    zigzag_rank,
)
from .color import rgb_to_ycbcr, ycbcr_to_rgb
from .fused import image_to_dct

__all__ = [
    "COMPONENTS", "NUM_CHANNELS", "block_basis", "channel_name", "dct_grid_size", "dct_matrix",
    "dct_to_image", "image_to_dct", "named_subsets", "parse_channels", "rgb_to_ycbcr",
    "ycbcr_to_rgb", "zigzag_order", "zigzag_rank",
]
