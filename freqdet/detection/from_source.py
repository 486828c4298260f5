"""``INPUT.DCT.FROM_SOURCE``: the DCT of the *original* image resized to s x the augmented size.

The paper's detection input upsamples the already-downsized (augmented) image by s, which
cannot hold detail the RGB model at the same size lacks. Here the augmentations' geometric
transforms are replayed on the source image at s x scale instead: a resize goes straight from
the source to s x its target size, crops and flips act on s x coordinates. The result is an
image of exactly (s*H, s*W) for an augmented (H, W), so its DCT with upsample 1 has the grid of
the upsampled path; boxes and masks (which follow the normal transforms) are unchanged.

Resizing reuses Detectron2's :class:`ResizeTransform` (PIL, the augmentation's own
interpolation), so the only difference from the RGB pipeline is the target size.
"""
from __future__ import annotations

import numpy as np
from detectron2.data import transforms as T

__all__ = ["SUPPORTED_AUGMENTATIONS", "check_from_source_augmentations", "source_at_scale"]

# Augmentations whose transforms are only resize / flip / crop (or no-op), which can be replayed
# exactly at s x scale. Others (rotation, extent, padding crops, colour jitter that would have to
# run on the enlarged image, ...) are refused rather than approximated.
SUPPORTED_AUGMENTATIONS = (T.ResizeShortestEdge, T.Resize, T.ResizeScale, T.RandomResize, T.RandomFlip,
                           T.RandomCrop, T.RandomCrop_CategoryAreaConstraint)


def check_from_source_augmentations(augmentations) -> None:
    """Raise ``ValueError`` naming the first augmentation FROM_SOURCE cannot replay at s x scale."""
    for aug in augmentations:
        if not isinstance(aug, SUPPORTED_AUGMENTATIONS):
            names = ", ".join(a.__name__ for a in SUPPORTED_AUGMENTATIONS)
            raise ValueError(f"INPUT.DCT.FROM_SOURCE supports only the resize/flip/crop augmentations "
                             f"({names}); got {type(aug).__name__} ({aug}). Remove it or set "
                             f"INPUT.DCT.FROM_SOURCE False.")


def _scaled(tfm, image: np.ndarray, k: float, scale: int):
    """(``tfm`` applied to ``image``, which is k x the size ``tfm`` expects; the new k)."""
    if isinstance(tfm, T.NoOpTransform):
        return image, k
    if isinstance(tfm, T.ResizeTransform):  # straight from what we hold to s x the target size
        h, w = image.shape[:2]
        return T.ResizeTransform(h, w, tfm.new_h * scale, tfm.new_w * scale, tfm.interp).apply_image(image), scale
    if isinstance(tfm, T.HFlipTransform):
        return np.ascontiguousarray(image[:, ::-1]), k
    if isinstance(tfm, T.VFlipTransform):
        return np.ascontiguousarray(image[::-1]), k
    if isinstance(tfm, T.CropTransform):
        x0, y0, w, h = (int(round(v * k)) for v in (tfm.x0, tfm.y0, tfm.w, tfm.h))
        return image[y0:y0 + h, x0:x0 + w], k
    raise ValueError(f"INPUT.DCT.FROM_SOURCE cannot replay {type(tfm).__name__} at s x scale "
                     f"(supported: resize, flip, crop); set INPUT.DCT.FROM_SOURCE False")


def source_at_scale(source: np.ndarray, transforms, augmented_shape, scale: int) -> np.ndarray:
    """``source`` taken through ``transforms`` at ``scale`` x size: shape ``(scale*H, scale*W, 3)``.

    ``augmented_shape`` is (H, W) of the normally augmented image. Without any resize in the
    list, the (flipped/cropped) source is resized to s x at the end, like the upsampled path.
    """
    image, k = source, 1
    for tfm in transforms.transforms if isinstance(transforms, T.TransformList) else transforms:
        image, k = _scaled(tfm, image, k, scale)
    target = (int(augmented_shape[0]) * scale, int(augmented_shape[1]) * scale)
    if image.shape[:2] != target:
        h, w = image.shape[:2]
        image = T.ResizeTransform(h, w, *target).apply_image(np.ascontiguousarray(image))
    return np.ascontiguousarray(image)
