"""Classifier training on an ImageFolder with broken files: an error naming the file by default;
with --skip-unreadable the statistics leave them out and training replaces and counts them."""
import json
import os

import pytest
from PIL import Image

from classification_utils import write_tiny_imagefolder
from freqdet.classification.data import UnreadableImageError
from freqdet.classification.engine import argument_parser, main

COMMON = ["--arch", "mobilenet_v2_dct", "--input-size", "64", "--batch-size", "4", "--num-workers", "0",
          "--device", "cpu", "--no-progress", "--log-period", "1", "--warmup-epochs", "0", "--eval-period", "1000"]


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
    args = argument_parser().parse_args(["--data", broken, "--output-dir", str(tmp_path / "o"), "--max-iter", "1",
                                         *COMMON])
    with pytest.raises(UnreadableImageError, match=r"cannot read image .*/train/(coffee/truncated|chelsea/empty)\.jpg: "):
        main(args)


def test_skip_unreadable_trains_and_counts(broken, tmp_path):
    out = tmp_path / "o"
    args = argument_parser().parse_args(["--data", broken, "--output-dir", str(out), "--max-iter", "4",
                                         "--skip-unreadable", *COMMON])
    main(args)
    with open(out / "dct_stats.json") as f:
        assert json.load(f)["num_images"] == 13  # 15 files, 2 unreadable left out
    rows = [json.loads(line) for line in open(out / "metrics.json")]
    counts = [r["data/skipped_images"] for r in rows if "data/skipped_images" in r]
    # 4 iterations x 4 images = 16 sampler draws over 15 files: the first epoch holds both broken ones
    assert counts == sorted(counts) and counts[-1] >= 2
    assert [r["iteration"] for r in rows if "total_loss" in r] == [0, 1, 2, 3]


def test_bad_channel_subset_names_the_flag(broken, tmp_path):
    args = argument_parser().parse_args(["--data", broken, "--output-dir", str(tmp_path / "o"), "--channels", "25",
                                         *COMMON])
    with pytest.raises(ValueError, match=r"--channels '25': unknown channel subset '25'"):
        main(args)
