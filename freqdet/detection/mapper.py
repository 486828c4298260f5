"""Detectron2's DatasetMapper, handing the block DCT of the augmented image instead of its pixels."""
from __future__ import annotations

import copy
import logging
import multiprocessing

import numpy as np
import torch
from detectron2.config import configurable
from detectron2.data import DatasetMapper
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T

from detectron2.utils.file_io import PathManager

from freqdet.core import image_to_dct
from freqdet.core.image_io import UnreadableImageError, open_image
from freqdet.core.input_spec import InputSpec

from .config import check_input_format, input_spec
from .from_source import check_from_source_augmentations, source_at_scale

__all__ = ["DCTDatasetMapper", "read_image"]
logger = logging.getLogger(__name__)


def read_image(file_name: str, format: str = "BGR") -> np.ndarray:
    """``(H, W, 3)`` uint8 in ``format``: Detectron2's ``read_image`` (any iopath path, EXIF orientation,
    its colour conversion), with :func:`freqdet.core.image_io.open_image`'s named errors and 16-bit grey."""
    return utils.convert_PIL_to_numpy(open_image(file_name, PathManager.open), format)


class DCTDatasetMapper(DatasetMapper):
    """Reads, augments and annotates exactly like :class:`DatasetMapper`; ``image`` is the
    ``(C, ceil(H*s/8), ceil(W*s/8))`` DCT of the augmented image, as ``input_spec`` describes it.

    Annotations, ``height``/``width`` and ``Instances.image_size`` stay in pixels. The
    augmented image's pixel size is added as ``image_size`` so the model can hand pixel
    sizes to its heads at test time too (there are no ``instances`` then). With
    ``input_spec.on_device`` the ``image`` is Detectron2's uint8 ``(3, H, W)`` tensor and the model
    computes the DCT (``INPUT.DCT.ON_DEVICE``).

    ``__call__`` follows :meth:`DatasetMapper.__call__` step by step except that the image goes
    from the augmentations straight to :meth:`model_input`: building the CHW tensor only to
    undo it would cost as much as a small DCT.
    """

    @configurable
    def __init__(self, is_train: bool = True, *, input_spec: InputSpec, skip_unreadable: bool = False, **kwargs):
        """``input_spec``: the DCT input (``INPUT.DCT.*``).

        ``skip_unreadable`` (``DATALOADER.SKIP_UNREADABLE_IMAGES``, training only): an image that
        cannot be decoded is logged and the mapper returns None, so the training loader
        (:class:`freqdet.engine.resumable.PositionDataset`, or Detectron2's MapDataset) maps another
        image in its place; :attr:`num_skipped` counts them over all loader workers."""
        super().__init__(is_train, **kwargs)
        # Shared memory, inherited by the DataLoader's worker processes; None when not skipping.
        self.skipped = multiprocessing.Value("q", 0) if skip_unreadable else None
        check_input_format(self.image_format)
        self.input_spec = input_spec
        if input_spec.from_source:
            check_from_source_augmentations(self.augmentations.augs)

    @classmethod
    def from_config(cls, cfg, is_train: bool = True):
        ret = super().from_config(cfg, is_train)
        ret.update(input_spec=input_spec(cfg), skip_unreadable=is_train and cfg.DATALOADER.SKIP_UNREADABLE_IMAGES)
        return ret

    @property
    def num_skipped(self) -> int:
        """Images skipped as unreadable so far (0 when not skipping)."""
        return 0 if self.skipped is None else int(self.skipped.value)

    def read_image(self, dataset_dict: dict) -> np.ndarray:
        """The ``(H, W, 3)`` image of ``dataset_dict`` in ``INPUT.FORMAT`` (override to read elsewhere).

        Detectron2's reader (EXIF orientation, same pixels); an undecodable file raises
        :class:`UnreadableImageError` naming it and why (:mod:`freqdet.core.image_io`)."""
        return read_image(dataset_dict["file_name"], format=self.image_format)

    def model_input(self, source: np.ndarray, image: np.ndarray, transforms) -> torch.Tensor:
        """What the model gets for ``image``, the augmentations' output (by ``transforms``) of the
        ``(H, W, 3)`` image ``source`` in ``INPUT.FORMAT``: :meth:`image_to_input` of ``image``, or
        with ``INPUT.DCT.FROM_SOURCE`` :meth:`source_to_input`."""
        if self.input_spec.from_source:
            return self.source_to_input(source, transforms, image.shape[:2])
        return self.image_to_input(image)

    def image_to_input(self, image: np.ndarray) -> torch.Tensor:
        """What the model gets for an augmented ``(H, W, 3)`` image in ``INPUT.FORMAT``."""
        spec = self.input_spec
        if spec.on_device:
            return torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)))
        return torch.from_numpy(image_to_dct(image, spec.channels, spec.upsample, spec.numpy_dtype, self.image_format))

    def source_to_input(self, source: np.ndarray, transforms, image_shape) -> torch.Tensor:
        """``INPUT.DCT.FROM_SOURCE``: the DCT (upsample 1) of ``source`` replayed through ``transforms``
        at s x the augmented size (:mod:`freqdet.detection.from_source`)."""
        spec = self.input_spec
        image = source_at_scale(source, transforms, image_shape, spec.upsample)
        return torch.from_numpy(image_to_dct(image, spec.channels, 1, spec.numpy_dtype, self.image_format))

    def __call__(self, dataset_dict):
        dataset_dict = copy.deepcopy(dataset_dict)  # it will be modified below
        try:
            image = self.read_image(dataset_dict)
        except UnreadableImageError as e:
            if self.skipped is None:
                raise
            with self.skipped.get_lock():
                self.skipped.value += 1
                n = self.skipped.value
            logger.warning("skipping unreadable training image %s: %s (%d skipped so far; "
                           "DATALOADER.SKIP_UNREADABLE_IMAGES)", e.file_name, e.reason, n)
            return None  # the loader maps another image instead
        utils.check_image_size(dataset_dict, image)
        sem_seg_gt = None
        if "sem_seg_file_name" in dataset_dict:
            sem_seg_gt = utils.read_image(dataset_dict.pop("sem_seg_file_name"), "L").squeeze(2)
        source = image  # augmentations return new arrays: this stays the original (FROM_SOURCE)
        aug_input = T.AugInput(image, sem_seg=sem_seg_gt)
        transforms = self.augmentations(aug_input)
        image, sem_seg_gt = aug_input.image, aug_input.sem_seg

        image_shape = image.shape[:2]  # h, w
        dataset_dict["image"] = self.model_input(source, image, transforms)
        dataset_dict["image_size"] = tuple(image_shape)
        if sem_seg_gt is not None:
            dataset_dict["sem_seg"] = torch.as_tensor(sem_seg_gt.astype("long"))
        if self.proposal_topk is not None:
            utils.transform_proposals(dataset_dict, image_shape, transforms, proposal_topk=self.proposal_topk)
        if not self.is_train:
            dataset_dict.pop("annotations", None)
            dataset_dict.pop("sem_seg_file_name", None)
            return dataset_dict
        if "annotations" in dataset_dict:
            self._transform_annotations(dataset_dict, transforms, image_shape)
        return dataset_dict

    def _transform_annotations(self, dataset_dict, transforms, image_shape):
        """DatasetMapper's, with Detectron2's bare polygon-format error turned into one naming the
        file and the key to change (json from other tools often stores masks as RLE)."""
        try:
            super()._transform_annotations(dataset_dict, transforms, image_shape)
        except ValueError as e:
            if "mask_format=='polygon'" not in str(e):
                raise
            raise ValueError(
                f"{dataset_dict.get('file_name')}: its annotation masks include RLE or bitmaps, which "
                "INPUT.MASK_FORMAT 'polygon' cannot hold; set INPUT.MASK_FORMAT bitmask"
            ) from e
