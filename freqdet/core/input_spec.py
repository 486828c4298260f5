"""What the network's input is, in one validated object: channels, upsampling, dtype and where the DCT runs.

Everything that follows from the upsampling factor s and the channel subset is derived here and
nowhere else: the pixel stride of a DCT cell (8/s), the DCT grid of an image, the FPN level names
(Detectron2 names levels by pixel stride, so s=1 shifts them) and the bytes an image costs in
transfer. Detectron2's config keys map onto it in :func:`freqdet.detection.config.input_spec`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Tuple

import numpy as np

from .blockdct import BLOCK, UPSAMPLE_FACTORS, dct_grid_size
from .channels import ChannelSpec, parse_channels

__all__ = ["DTYPES", "InputSpec", "InputSpecError"]

DTYPES = ("float16", "float32")  # float16 halves host-to-device bytes; the model computes in float32
NUM_FPN_LEVELS = 5  # P2..P6 of Detectron2's RGB R-CNN FPN


class InputSpecError(ValueError):
    """An invalid :class:`InputSpec` field. ``str(e)`` names the fields as in :class:`InputSpec`;
    :meth:`naming` gives the same message with the names of the settings they came from."""

    def __init__(self, template: str, **values):
        self.template, self.values = template, values
        super().__init__(self.naming({}))

    def naming(self, names: Mapping[str, str]) -> str:
        """The message with each field called ``names[field]`` (default: the field's own name)."""
        fields = {f: names.get(f, f) for f in ("channels", "upsample", "dtype", "on_device", "from_source")}
        return self.template.format(**fields, **self.values)


@dataclass(frozen=True)
class InputSpec:
    """The DCT input of a model and its data loader, validated once when built (defaults: those of
    ``INPUT.DCT``).

    ``channels``: any subset spec of :func:`freqdet.core.parse_channels` (a name such as ``"24"``,
    indices c*64+u*8+v), stored as a tuple of indices. ``upsample``: s in {1, 2}, the factor the
    image is upsampled by before the 8x8 DCT. ``dtype``: ``"float32"`` or ``"float16"``, what the
    loader hands over. ``on_device``: the model computes the DCT from the uint8 image.
    ``from_source``: the DCT is taken from the original image (needs ``on_device`` False).
    """

    channels: ChannelSpec = "24"  # stored as a tuple of indices
    upsample: int = 2
    dtype: str = "float32"
    on_device: bool = False
    from_source: bool = False

    def __post_init__(self):
        try:
            channels = tuple(parse_channels(self.channels))
        except ValueError as e:
            raise InputSpecError("{channels}: {error}", error=e) from None
        s = self.upsample
        if isinstance(s, (bool, np.bool_)) or s not in UPSAMPLE_FACTORS:
            raise InputSpecError("{upsample} must be 1 or 2 (the DCT grid is H*s/8 x W*s/8), got {value!r}", value=s)
        if self.dtype not in DTYPES:
            raise InputSpecError("{dtype} must be one of {known}, got {value!r}", known=sorted(DTYPES),
                                 value=self.dtype)
        for field in ("on_device", "from_source"):
            if not isinstance(getattr(self, field), (bool, np.bool_)):
                raise InputSpecError("{%s} must be True or False, got {value!r}" % field, value=getattr(self, field))
        if self.from_source and self.on_device:
            raise InputSpecError("{from_source} needs the loader-side DCT: set {on_device} False")
        object.__setattr__(self, "channels", channels)
        object.__setattr__(self, "upsample", int(s))
        object.__setattr__(self, "on_device", bool(self.on_device))
        object.__setattr__(self, "from_source", bool(self.from_source))

    @property
    def num_channels(self) -> int:
        """C: the backbone's input channels and the length of the per-channel statistics."""
        return len(self.channels)

    @property
    def stride(self) -> int:
        """Pixels per DCT cell (8/s): the stride of the backbone's input, res2's pixel stride."""
        return BLOCK // self.upsample

    def grid_size(self, height: int, width: int) -> Tuple[int, int]:
        """DCT grid ``(ceil(H*s/8), ceil(W*s/8))`` of an image of ``height`` x ``width`` pixels."""
        return dct_grid_size(height, width, self.upsample)

    @property
    def fpn_level_names(self) -> list[str]:
        """FPN levels P2..P6 of the RGB model, named by pixel stride: p2..p6 at s=2, p3..p7 at s=1."""
        first = int(math.log2(self.stride))
        return [f"p{first + i}" for i in range(NUM_FPN_LEVELS)]

    @property
    def numpy_dtype(self) -> np.dtype:
        """NumPy dtype of the loader-side DCT tensor."""
        return np.dtype(self.dtype)

    def bytes_per_image(self, height: int, width: int) -> int:
        """Bytes the loader hands the model for an (augmented) image of ``height`` x ``width`` pixels:
        the uint8 image with on-device DCT, else C x grid cells x the dtype's size."""
        if self.on_device:
            return 3 * height * width
        gh, gw = self.grid_size(height, width)
        return self.num_channels * gh * gw * self.numpy_dtype.itemsize
