"""Detectron2's DatasetMapper, with the augmented image replaced by its block DCT."""
from __future__ import annotations

import numpy as np
import torch
from detectron2.config import configurable
from detectron2.data import DatasetMapper

from freqdet.config import dct_channels
from freqdet.dct import image_to_dct, parse_channels

__all__ = ["DCTDatasetMapper", "dct_dtype"]

_DTYPES = {"float32": np.float32, "float16": np.float16}


def dct_dtype(name: str):
    """NumPy dtype for ``INPUT.DCT.DTYPE``."""
    if name not in _DTYPES:
        raise ValueError(f"INPUT.DCT.DTYPE must be one of {sorted(_DTYPES)}, got {name!r}")
    return _DTYPES[name]


class DCTDatasetMapper(DatasetMapper):
    """Reads, augments and annotates exactly like :class:`DatasetMapper`, then replaces
    ``image`` by the ``(C, ceil(H*s/8), ceil(W*s/8))`` DCT of the augmented image.

    Annotations, ``height``/``width`` and ``Instances.image_size`` stay in pixels. The
    augmented image's pixel size is added as ``image_size`` so the model can hand pixel
    sizes to its heads at test time too (there are no ``instances`` then).
    """

    @configurable
    def __init__(self, is_train: bool = True, *, dct_channels="24", dct_upsample: int = 2,
                 dct_dtype=np.float32, **kwargs):
        super().__init__(is_train, **kwargs)
        if self.image_format not in ("RGB", "BGR"):
            raise ValueError(f"INPUT.FORMAT must be RGB or BGR for the DCT input, got {self.image_format!r}")
        self.dct_channels = parse_channels(dct_channels)
        self.dct_upsample = int(dct_upsample)
        self.dct_dtype = dct_dtype

    @classmethod
    def from_config(cls, cfg, is_train: bool = True):
        ret = super().from_config(cfg, is_train)
        ret.update(
            dct_channels=dct_channels(cfg),
            dct_upsample=cfg.INPUT.DCT.UPSAMPLE,
            dct_dtype=dct_dtype(cfg.INPUT.DCT.DTYPE),
        )
        return ret

    def image_to_input(self, image: np.ndarray) -> torch.Tensor:
        """DCT tensor of an augmented ``(H, W, 3)`` image in ``INPUT.FORMAT``."""
        dct = image_to_dct(image, self.dct_channels, self.dct_upsample, self.dct_dtype, self.image_format)
        return torch.from_numpy(dct)

    def __call__(self, dataset_dict):
        dataset_dict = super().__call__(dataset_dict)
        image = dataset_dict["image"].permute(1, 2, 0).numpy()
        dataset_dict["image_size"] = tuple(image.shape[:2])
        dataset_dict["image"] = self.image_to_input(image)
        return dataset_dict
