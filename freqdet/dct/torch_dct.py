"""The block DCT of :mod:`freqdet.dct.blockdct` in PyTorch, for batches on any device."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .blockdct import BLOCK, _check_upsample, block_basis, component_groups, dct_grid_size
from .channels import ChannelSpec, parse_channels
from .color import forward_matrix


def images_to_dct(
    images: torch.Tensor,
    channels: ChannelSpec = "24",
    upsample: int = 1,
    input_format: str = "RGB",
) -> torch.Tensor:
    """Block-DCT coefficients of ``(N, 3, H, W)`` (or ``(3, H, W)``) images in [0, 255].

    Returns float32 ``(N, C, ceil(H*s/8), ceil(W*s/8))`` on the images' device, equal to
    :func:`freqdet.dct.image_to_dct` up to float rounding.
    """
    if images.dim() == 3:
        return images_to_dct(images[None], channels, upsample, input_format)[0]
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"expected (N, 3, H, W) images, got {tuple(images.shape)}")
    _check_upsample(upsample)
    chans = parse_channels(channels)
    x = images.float()
    if upsample != 1:
        x = F.interpolate(x, scale_factor=upsample, mode="bilinear", align_corners=False)
    n, _, h, w = x.shape
    hb, wb = dct_grid_size(h, w)
    affine = torch.as_tensor(forward_matrix(input_format), dtype=torch.float32, device=x.device)
    x = torch.einsum("oi,nihw->nohw", affine[:, :3], x) + affine[:, 3, None, None]
    if (hb * BLOCK, wb * BLOCK) != (h, w):
        x = F.pad(x, (0, wb * BLOCK - w, 0, hb * BLOCK - h), mode="replicate")
    blocks = x.reshape(n, 3, hb, BLOCK, wb, BLOCK).permute(0, 1, 3, 5, 2, 4).reshape(n, 3, 64, hb * wb)
    basis = torch.as_tensor(block_basis(), dtype=torch.float32, device=x.device)
    out = x.new_empty(n, len(chans), hb * wb)
    for c, freqs, rows in component_groups(chans):
        out[:, torch.as_tensor(rows, device=x.device)] = basis[torch.as_tensor(freqs, device=x.device)] @ blocks[:, c]
    return out.reshape(n, len(chans), hb, wb)
