"""Classifier training on an ImageFolder with broken files: an error naming the file by default;
with DATALOADER.SKIP_UNREADABLE_IMAGES the statistics leave them out and training replaces and counts them."""
import json
import os

import pytest
from PIL import Image

from classification_utils import tiny_cfg, train, write_tiny_imagefolder
from freqdet.classification.data import UnreadableImageError

COMMON = ["MODEL.ARCH", "mobilenet_v2_dct", "TEST.EVAL_PERIOD", 1000]


@pytest.fixture
def broken(tmp_path, photos):
    root = write_tiny_imagefolder(tmp_path / "data", photos)  # 12 train images, 3 classes
    good = os.path.join(root, "train", "coffee", "0.jpg")
    with open(good, "rb") as f:
        data = f.read()
    with open(os.path.join(root, "train", "coffee", "truncated.jpg"), "wb") as f:
        f.write(data[: len(data) // 2])
    open(os.path.join(root, "train", "chelsea", "empty.jpg"), "wb").close()
    Image.open(good).convert("CMYK").save(os.path.join(root, "train", "chelsea", "cmyk.jpg"))  # readable
    return root


def test_default_names_the_unreadable_file(broken, tmp_path):
    cfg = tiny_cfg(broken, tmp_path / "o", "SOLVER.MAX_ITER", 1, *COMMON)
    with pytest.raises(UnreadableImageError, match=r"cannot read image .*/train/(coffee/truncated|chelsea/empty)\.jpg: "):
        train(cfg)


def test_skip_unreadable_trains_and_counts(broken, tmp_path):
    out = tmp_path / "o"
    train(tiny_cfg(broken, out, "SOLVER.MAX_ITER", 4, "DATALOADER.SKIP_UNREADABLE_IMAGES", True, *COMMON))
    with open(out / "dct_stats.json") as f:
        assert json.load(f)["num_images"] == 13  # 15 files, 2 unreadable left out
    rows = [json.loads(line) for line in open(out / "metrics.json")]
    counts = [r["data/skipped_images"] for r in rows if "data/skipped_images" in r]
    # 4 iterations x 4 images = 16 sampler draws over 15 files: the first epoch holds both broken ones
    assert counts == sorted(counts) and counts[-1] >= 2
    assert [r["iteration"] for r in rows if "total_loss" in r] == [0, 1, 2, 3]


def test_bad_channel_subset_names_the_key(broken, tmp_path):
    with pytest.raises(ValueError, match=r"INPUT.DCT.CHANNELS \['25'\]: unknown channel subset '25'"):
        tiny_cfg(broken, tmp_path / "o", "INPUT.DCT.CHANNELS", '["25"]', *COMMON)
