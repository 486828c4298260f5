"""freqdet.core's transforms against independent references: SciPy's DCT, Pillow's YCbCr, real JPEG files."""
import numpy as np
import pytest
import scipy.fft
import torch
from PIL import Image

from freqdet.core import dct_grid_size, dct_to_image, image_to_dct, parse_channels, rgb_to_ycbcr
from freqdet.analysis.energy import energy_share
from freqdet.core.torch_dct import images_to_dct


def reference_dct(image_rgb, upsample=1):
    """Every block through scipy.fft.dctn, from a float64 YCbCr computed independently."""
    rgb = image_rgb.astype(np.float64)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    ycc = np.stack([0.299 * r + 0.587 * g + 0.114 * b,
                    128 - 0.168736 * r - 0.331264 * g + 0.5 * b,
                    128 + 0.5 * r - 0.418688 * g - 0.081312 * b], axis=-1) - 128
    if upsample == 2:
        import cv2
        ycc = cv2.resize(ycc, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR)
    h, w = ycc.shape[:2]
    hb, wb = -(-h // 8), -(-w // 8)
    ycc = np.pad(ycc, ((0, hb * 8 - h), (0, wb * 8 - w), (0, 0)), mode="edge")
    out = np.empty((192, hb, wb))
    for i in range(hb):
        for j in range(wb):
            block = ycc[i * 8:(i + 1) * 8, j * 8:(j + 1) * 8]
            for c in range(3):
                out[c * 64:(c + 1) * 64, i, j] = scipy.fft.dctn(block[..., c], norm="ortho").ravel()
    return out


@pytest.mark.parametrize("shape", [(16, 16), (37, 53), (8, 72)])
def test_matches_scipy_on_random_images(rng, shape):
    img = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    ours = image_to_dct(img, "192")
    assert ours.shape == (192, *dct_grid_size(*shape))
    assert np.abs(ours - reference_dct(img)).max() < 1e-3


def test_matches_scipy_on_real_photo(china):
    crop = china[:203, :301]  # not multiples of 8: exercises edge replication
    assert np.abs(image_to_dct(crop, "192") - reference_dct(crop)).max() < 1e-3


def test_upsampled_matches_reference(china):
    crop = china[100:161, 200:251]
    ours = image_to_dct(crop, "192", upsample=2)
    assert ours.shape == (192, *dct_grid_size(61, 51, 2)) == (192, 16, 13)
    assert np.abs(ours - reference_dct(crop, upsample=2)).max() < 1e-3


def test_round_trip(photos, rng):
    for img in [*photos.values(), rng.integers(0, 256, (45, 31, 3), dtype=np.uint8)]:
        h, w = img.shape[:2]
        back = dct_to_image(image_to_dct(img, "192"))[:h, :w]
        assert np.abs(back.astype(int) - img).max() < 0.5


def test_subset_rows_equal_full_rows(china):
    full = image_to_dct(china, "192")
    for spec in ("24", "64T", [130, 0, 65, 3]):
        idx = parse_channels(spec)
        np.testing.assert_allclose(image_to_dct(china, spec), full[idx], atol=2e-3)


def test_bgr_input_and_float16(china):
    rgb = image_to_dct(china, "24")
    bgr = image_to_dct(china[:, :, ::-1], "24", input_format="BGR")
    np.testing.assert_allclose(rgb, bgr, atol=1e-3)
    half = image_to_dct(china, "24", dtype=np.float16)
    assert half.dtype == np.float16
    np.testing.assert_allclose(half, rgb, rtol=2e-3, atol=0.1)


def test_colour_matches_pillow(photos):
    for img in photos.values():
        ours = rgb_to_ycbcr(img)
        pillow = np.asarray(Image.fromarray(img).convert("YCbCr"), dtype=np.float32)
        assert np.abs(np.rint(ours) - pillow).max() <= 1.0  # Pillow truncates in fixed point


@pytest.mark.parametrize("quality", [90, 95])
def test_matches_coefficients_stored_in_jpeg(photos, tmp_path, quality):
    """Quantized coefficients in a real 4:4:4 JPEG equal ours / its quantization table."""
    jpeglib = pytest.importorskip("jpeglib")
    for name, img in photos.items():
        path = tmp_path / f"{name}.jpg"
        Image.fromarray(img).save(path, quality=quality, subsampling=0)
        decoded = np.asarray(Image.open(path).convert("RGB"))
        ours = image_to_dct(decoded, "192").astype(np.float64)
        stored = jpeglib.read_dct(str(path))
        for c, plane in enumerate((stored.Y, stored.Cb, stored.Cr)):
            qt = stored.qt[stored.quant_tbl_no[c]].astype(np.float64)  # (8, 8), natural order
            hb, wb = plane.shape[:2]
            mine = ours[c * 64:(c + 1) * 64, :hb, :wb].reshape(8, 8, hb, wb).transpose(2, 3, 0, 1)
            diff = np.abs(np.rint(mine / qt) - plane)
            assert (diff <= 1).mean() >= 0.99, (name, c, (diff <= 1).mean())


def test_torch_matches_numpy(china, rng):
    imgs = [china[:120, :200], rng.integers(0, 256, (37, 29, 3), dtype=np.uint8)]
    for img in imgs:
        tensor = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)
        for spec, s in (("24", 1), ("192", 2), ([128, 1, 64], 1)):
            ref = image_to_dct(img, spec, upsample=s)
            out = images_to_dct(tensor, spec, upsample=s)
            assert out.shape == ref.shape
            assert np.abs(out.numpy() - ref).max() < 5e-3
    batch = torch.from_numpy(np.stack([china[:64, :64], china[64:128, :64]])).permute(0, 3, 1, 2)
    out = images_to_dct(batch[:, [2, 1, 0]], "24", input_format="BGR")
    np.testing.assert_allclose(out[1].numpy(), image_to_dct(china[64:128, :64], "24"), atol=5e-3)


@pytest.mark.parametrize("bad, message", [
    ((8, 8), "(H, W, 3)"),
    ((0, 8, 3), "empty"),
])
def test_bad_images_raise(bad, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        image_to_dct(np.zeros(bad, np.uint8))


def test_bad_upsample_raises(china):
    with pytest.raises(ValueError, match="upsample"):
        image_to_dct(china, upsample=3)


def test_energy_share_is_each_channels_part_of_the_pixel_energy(photos):
    """Per channel, the mean squared coefficient (SciPy's DCT) over the energy of the centred YCbCr
    pixels (Parseval: the DCT is orthonormal), each image weighing the same."""
    crops = [photos["china"][:200, :296], photos["coffee"][:96, :160]]  # whole blocks: no edge padding
    per_image = [np.mean(reference_dct(c) ** 2, axis=(1, 2)) for c in crops]
    pixels = [64 * np.mean((rgb_to_ycbcr(c).astype(np.float64) - 128) ** 2, axis=(0, 1)).sum() for c in crops]
    np.testing.assert_allclose([e.sum() for e in per_image], pixels, rtol=1e-4)  # Parseval
    share = energy_share(crops)
    np.testing.assert_allclose(share, np.mean(per_image, axis=0) / np.mean(pixels), rtol=1e-3, atol=1e-8)
    assert np.argmax(share) == 0 and share[parse_channels("6")].sum() > 0.5  # low frequencies dominate
