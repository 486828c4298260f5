"""The fused block DCT (freqdet.core.image_to_dct) against the direct one it replaces.

The reference enlarges the image with cv2.resize, pads and transforms every block; the fused
path never builds the enlarged image. They must agree for odd sizes, both input formats,
every named subset, both s and both dtypes.
"""
import cv2
import numpy as np
import pytest

from freqdet.core import image_to_dct, named_subsets
from freqdet.core.fused import upsample_taps
from freqdet.core.reference import image_to_dct_reference

SIZES = [(1, 1), (3, 5), (7, 9), (8, 8), (13, 30), (61, 51)]


def test_upsample_taps_are_cv2_resize():
    """Each column of U is cv2's x2 bilinear enlargement of a unit impulse, seen from one block."""
    u = upsample_taps()
    for j in range(6):
        impulse = np.zeros((1, 16), np.float32)
        impulse[0, 3 + j] = 1  # source sample 4b-1+j of block b=1 (samples 4..7), with room on both sides
        big = cv2.resize(impulse, (32, 1), interpolation=cv2.INTER_LINEAR)[0]
        np.testing.assert_allclose(u[:, j], big[8:16], atol=1e-7)


@pytest.mark.parametrize("upsample", [1, 2])
@pytest.mark.parametrize("input_format", ["RGB", "BGR"])
def test_every_named_subset_matches_reference(china, upsample, input_format):
    crop = china[101:162, 203:254]  # 61 x 51: neither side a multiple of 4 or 8
    for name in named_subsets():
        ours = image_to_dct(crop, name, upsample, input_format=input_format)
        ref = image_to_dct_reference(crop, name, upsample, input_format=input_format)
        assert ours.shape == ref.shape and ours.dtype == np.float32
        assert np.abs(ours - ref).max() < 1e-3, name


@pytest.mark.parametrize("upsample", [1, 2])
def test_odd_and_tiny_sizes_match_reference(rng, upsample):
    for shape in SIZES:
        img = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
        for spec in ("192", [130, 5, 64, 9]):
            ours = image_to_dct(img, spec, upsample)
            ref = image_to_dct_reference(img, spec, upsample)
            assert ours.shape == ref.shape, (shape, spec)
            assert np.abs(ours - ref).max() < 1e-3, (shape, spec)


@pytest.mark.parametrize("upsample", [1, 2])
def test_several_strips_match_reference(rng, upsample):
    """A wide image is cut into several strips of block rows; their seams must not show."""
    img = rng.integers(0, 256, (37, 3001, 3), dtype=np.uint8)
    ours = image_to_dct(img, "24", upsample)
    np.testing.assert_allclose(ours, image_to_dct_reference(img, "24", upsample), atol=1e-3)


def test_float16_is_the_rounded_float32(china):
    full = image_to_dct(china, "64", 2)
    half = image_to_dct(china, "64", 2, dtype=np.float16)
    assert half.dtype == np.float16
    np.testing.assert_array_equal(half, full.astype(np.float16))


def test_float_input_matches_uint8(china):
    crop = china[:45, :77]
    np.testing.assert_allclose(image_to_dct(crop.astype(np.float32), "24", 2), image_to_dct(crop, "24", 2), atol=1e-4)
