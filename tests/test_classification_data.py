"""Transforms (shapes, pickling, normalisation), DCT statistics cache, ImageFolder errors, Fashion-MNIST reader."""
import gzip
import json
import os
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from classification_utils import write_tiny_imagefolder
from freqdet.classification import ToDCT, build_transform
from freqdet.classification.data import image_folder
from freqdet.synthetic.fashion_mnist import read_idx, write_image_folder
from freqdet.classification.stats import cached_image_folder_stats, image_folder_dct_stats
from freqdet.core import image_to_dct, parse_channels


@pytest.fixture(scope="module")
def folder(tmp_path_factory, photos):
    return write_tiny_imagefolder(tmp_path_factory.mktemp("imgs"), photos)


@pytest.mark.parametrize("channels", ["24", "64", "192"])
def test_dct_transforms_give_documented_shapes(photos, channels):
    c = len(parse_channels(channels))
    img = Image.fromarray(photos["china"])  # 427x640, neither side a multiple of 8
    torch.manual_seed(0)
    assert build_transform("dct", True, channels=channels)(img).shape == (c, 56, 56)
    val = build_transform("dct", False, channels=channels)(img)
    assert val.shape == (c, 56, 56) and val.dtype == torch.float32
    assert build_transform("dct", False, size=64, channels=channels)(img).shape == (c, 8, 8)


def test_rgb_transforms_shapes(photos):
    img = Image.fromarray(photos["coffee"])
    assert build_transform("rgb", True)(img).shape == (3, 224, 224)
    assert build_transform("rgb", False, size=32)(img).shape == (3, 32, 32)


def test_val_transform_is_resize_centercrop_then_exact_dct(photos):
    img = Image.fromarray(photos["chelsea"])
    got = build_transform("dct", False, size=448, resize=512, channels="24")(img).numpy()
    from torchvision.transforms import CenterCrop, Resize

    ref = image_to_dct(np.asarray(CenterCrop(448)(Resize(512)(img))), "24")
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-3)


def test_normalisation_uses_given_statistics(photos):
    img = Image.fromarray(photos["astronaut"])
    raw = build_transform("dct", False, size=64, channels="6")(img)
    mean, std = [float(v) for v in raw.mean((1, 2))], [float(v) for v in raw.std((1, 2))]
    norm = build_transform("dct", False, size=64, channels="6", mean=mean, std=std)(img)
    np.testing.assert_allclose(norm.mean((1, 2)).numpy(), 0, atol=1e-4)
    np.testing.assert_allclose(norm.std((1, 2)).numpy(), 1, atol=1e-3)
    with pytest.raises(ValueError, match="2/2 entries for 6 channels"):
        build_transform("dct", False, channels="6", mean=[0, 0], std=[1, 1])


def test_transforms_pickle_for_dataloader_workers(photos):
    img = Image.fromarray(photos["coffee"])
    t = build_transform("dct", False, size=64, channels="24", mean=[0.0] * 24, std=[2.0] * 24)
    clone = pickle.loads(pickle.dumps(t))
    assert torch.equal(clone(img), t(img))
    pickle.loads(pickle.dumps(build_transform("dct", True, channels="64")))
    pickle.loads(pickle.dumps(ToDCT("24T")))


def test_dataloader_with_worker_processes(folder):
    ds = image_folder(os.path.join(folder, "train"), build_transform("dct", True, size=64, channels="24"))
    images, labels = next(iter(torch.utils.data.DataLoader(ds, batch_size=4, num_workers=1)))
    assert images.shape == (4, 24, 8, 8) and labels.shape == (4,)


def test_statistics_match_direct_computation_and_are_cached(folder, tmp_path):
    root = os.path.join(folder, "train")
    mean, std, n = image_folder_dct_stats(root, size=64, progress=False)
    assert n == 12 and mean.shape == (192,)
    tf = build_transform("dct", False, size=64, channels="192")
    x = torch.stack([tf(Image.open(os.path.join(root, c, f)).convert("RGB"))
                     for c in sorted(os.listdir(root)) for f in sorted(os.listdir(os.path.join(root, c)))])
    np.testing.assert_allclose(mean, x.double().mean((0, 2, 3)).numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(std, x.double().std((0, 2, 3), unbiased=False).numpy(), rtol=1e-5, atol=1e-6)

    path = str(tmp_path / "stats.json")
    m24, s24 = cached_image_folder_stats(path, root, "24", size=64, progress=False)
    np.testing.assert_allclose(m24, mean[parse_channels("24")], rtol=1e-6)
    np.testing.assert_allclose(s24, np.maximum(std[parse_channels("24")], 1.0), rtol=1e-6)
    data = json.load(open(path))
    assert data["size"] == 64 and data["num_images"] == 12
    data["mean"]["0"] = 12345.0  # a cached file is read, not recomputed ...
    json.dump(data, open(path, "w"))
    assert cached_image_folder_stats(path, root, "24", size=64)[0][0] == 12345.0
    # ... unless it was made for another geometry.
    assert cached_image_folder_stats(path, root, "24", size=32, progress=False)[0][0] != 12345.0


def test_constant_channels_are_not_amplified(tmp_path, photos):
    """Greyscale images have constant chroma: its std is floored, not ~0 (which would blow up noise)."""
    grey = {k: np.repeat(np.asarray(Image.fromarray(v).convert("L"))[..., None], 3, axis=2) for k, v in photos.items()}
    root = write_tiny_imagefolder(tmp_path / "grey", grey, train_per_class=2, val_per_class=1)
    mean, std = cached_image_folder_stats(str(tmp_path / "s.json"), os.path.join(root, "train"), "24", size=64, progress=False)
    assert min(std) >= 1.0 and std[0] > 10  # luma DC varies, chroma is floored
    x = build_transform("dct", False, size=64, mean=mean, std=std)(Image.open(os.path.join(root, "val", "coffee", "0.jpg")))
    assert x.abs().max() < 50


def test_imagefolder_errors_name_the_folder_or_file(tmp_path, folder):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=str(empty)):
        image_folder(str(empty))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        image_folder(str(tmp_path / "nowhere"))
    bad = tmp_path / "bad" / "cls"
    bad.mkdir(parents=True)
    (bad / "broken.jpg").write_bytes(open(os.path.join(folder, "train", "coffee", "0.jpg"), "rb").read()[:200])
    ds = image_folder(str(tmp_path / "bad"), build_transform("dct", False, size=64))
    with pytest.raises(OSError, match="broken.jpg"):
        ds[0]


def test_fashion_mnist_reader_and_writer(tmp_path):
    """An IDX pair in the Debian package's format becomes a JPEG ImageFolder in label order."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (30, 28, 28), dtype=np.uint8)
    labels = np.repeat(np.arange(10, dtype=np.uint8), 3)
    src = tmp_path / "src"
    src.mkdir()
    for prefix in ("train", "t10k"):
        with gzip.open(src / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write(b"\0\0\x08\x03" + b"".join(int(d).to_bytes(4, "big") for d in images.shape) + images.tobytes())
        with gzip.open(src / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(b"\0\0\x08\x01" + len(labels).to_bytes(4, "big") + labels.tobytes())
    np.testing.assert_array_equal(read_idx(str(src / "train-images-idx3-ubyte.gz")), images)
    counts = write_image_folder(str(tmp_path / "out"), size=32, per_class={"train": 2}, source=str(src))
    assert counts == {"train": 20, "val": 30}
    ds = image_folder(str(tmp_path / "out" / "train"))
    assert ds.classes[0] == "00_t-shirt" and ds.classes[9] == "09_ankle-boot" and len(ds) == 20
    img, label = ds[len(ds) - 1]
    assert img.size == (32, 32) and label == 9
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        write_image_folder(str(tmp_path / "x"), source=str(tmp_path / "none"))


@pytest.mark.skipif(not os.path.exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"),
                    reason="Debian package dataset-fashion-mnist not installed")
def test_debian_fashion_mnist_is_readable():
    from freqdet.synthetic.fashion_mnist import load_split

    images, labels = load_split("val")
    assert images.shape == (10000, 28, 28) and np.bincount(labels).tolist() == [1000] * 10
