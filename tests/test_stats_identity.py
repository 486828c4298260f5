"""A DCT statistics file records what it was measured on, and every consumer checks it: two datasets in
one working directory never share a file by accident. An automatic file made for other data is computed
again (with a log line naming the field); a user's file is refused with a message naming both sides and
the fix; old files without an identity are used with a warning. Real JPEGs, real COCO json, the real
train_net main() and tools/compute_dct_stats.py."""
import importlib.util
import json
import logging
import os

import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import register_coco_instances
from detectron2.engine import default_argument_parser
from detectron2.modeling import build_model
from PIL import Image

from classification_utils import write_tiny_imagefolder
from freqdet.classification.stats import cached_image_folder_stats
from freqdet.core.stats import StatsMismatchError, files_fingerprint, save_dct_stats
from freqdet.detection.stats import dataset_dct_stats, ensure_dct_stats, stats_identity
from freqdet.detection.trainer import main
from test_foreign_coco import _cfg as foreign_cfg

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "stats_identity_data"  # one builtin-like name, pointed at one root after the other


def write_coco(root, images, boxes=None) -> str:
    """``root/images/<i>.jpg`` of ``images`` (RGB uint8) and ``root/train.json`` with one box (and its
    polygon) per image, annotation ids 100, 101, ...; ``boxes``: XYWH per image (default: the middle)."""
    os.makedirs(root / "images", exist_ok=True)
    coco = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "thing"}]}
    for i, image in enumerate(images):
        Image.fromarray(image).save(root / "images" / f"{i}.jpg", quality=90)
        h, w = image.shape[:2]
        x, y, bw, bh = boxes[i] if boxes else (w / 4, h / 4, w / 2, h / 2)
        coco["images"].append({"id": i, "file_name": f"{i}.jpg", "height": h, "width": w})
        coco["annotations"].append({"id": 100 + i, "image_id": i, "category_id": 1, "bbox": [x, y, bw, bh],
                                    "area": abs(bw * bh), "iscrowd": 0,
                                    "segmentation": [[x, y, x + bw, y, x + bw, y + bh, x, y + bh]]})
    path = root / "train.json"
    path.write_text(json.dumps(coco))
    return str(path)


def register(name, json_file):
    """Point ``name`` at ``json_file`` (re-registering it, as another DETECTRON2_DATASETS root would)."""
    if name in DatasetCatalog.list():
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    register_coco_instances(name, {}, json_file, os.path.join(os.path.dirname(json_file), "images"))


@pytest.fixture(scope="module")
def datasets(tmp_path_factory, photos):
    """Two COCO datasets of 3 images: colour photo crops, and their inverted greyscale copies (same names)."""
    base = tmp_path_factory.mktemp("identity")
    colour = [np.ascontiguousarray(photos[k][40:104, 60:156]) for k in ("astronaut", "coffee", "chelsea")]
    grey = [255 - np.repeat(np.asarray(Image.fromarray(c).convert("L"))[..., None], 3, axis=2) for c in colour]
    return {"colour": write_coco(base / "colour", colour), "grey": write_coco(base / "grey", grey)}


def _cfg(stats, out="", *opts):
    cfg = foreign_cfg({"name": NAME}, out)
    cfg.merge_from_list(["DATASETS.TEST", (), "MODEL.MASK_ON", False, "SOLVER.MAX_ITER", 1,
                         "MODEL.PIXEL_STATS_FILE", str(stats), *opts])
    return cfg


def _train_net(cfg, tmp_path, *opts):
    """tools/train_net.py's main() on ``cfg`` (written as a config file) and ``opts``."""
    config = tmp_path / "config_in.yaml"
    config.write_text(cfg.dump())
    return main(default_argument_parser().parse_args(["--config-file", str(config), *map(str, opts)]))


def _stats(path):
    with open(path) as f:
        return json.load(f)


def _logs(caplog, text):
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


def test_fingerprint_follows_names_and_sizes_not_the_folder(tmp_path):
    for d in ("a", "b"):
        (tmp_path / d / "sub").mkdir(parents=True)
        (tmp_path / d / "1.jpg").write_bytes(b"x" * 10)
        (tmp_path / d / "sub" / "2.jpg").write_bytes(b"y" * 20)
    files = lambda d: [str(tmp_path / d / "1.jpg"), str(tmp_path / d / "sub" / "2.jpg")]  # noqa: E731
    assert files_fingerprint(files("a")) == files_fingerprint(files("b")) == files_fingerprint(files("a")[::-1])
    (tmp_path / "b" / "1.jpg").write_bytes(b"x" * 11)  # rewritten to another size
    assert files_fingerprint(files("a")) != files_fingerprint(files("b"))
    assert files_fingerprint(files("a")) != files_fingerprint(files("a")[:1])  # an image less
    assert files_fingerprint(files("a") + [str(tmp_path / "a" / "gone.jpg")]) != files_fingerprint(files("a"))


def test_two_datasets_in_one_directory_get_their_own_statistics(datasets, tmp_path, monkeypatch, caplog):
    """The issue's walk: train_net on one dataset caches its statistics at the config's relative path; the
    same name pointed at another root (inverted grey copies) must not reuse them. The automatic file is
    computed again, logged with the field that differed, and equals the statistics of the new data."""
    stats = "datasets/data/dct_stats_s1.json"  # relative, as the zoo configs' path
    cfgs = [_cfg(stats, tmp_path / "out1"), _cfg(stats, tmp_path / "out2"), _cfg(stats), _full(_cfg(stats))]
    monkeypatch.chdir(tmp_path)
    register(NAME, datasets["colour"])
    with caplog.at_level(logging.INFO, logger="freqdet.detection.stats"):
        _train_net(cfgs[0], tmp_path)
    assert _logs(caplog, f"MODEL.PIXEL_STATS_FILE='{stats}' does not exist: computing the DCT statistics of all "
                         f"192 channels over all 3 images of {NAME}")  # the real count, not the 5000 cap
    first = _stats(stats)
    assert first["auto"] is True and first["num_images"] == 3
    identity = first["identity"]
    assert identity["dataset"] == {"name": NAME, "json_file": datasets["colour"], "images": 3,
                                   "fingerprint": identity["dataset"]["fingerprint"]}
    assert (identity["upsample"], identity["from_source"], identity["input_format"]) == (1, False, "BGR")
    assert identity["augmentation"].startswith("ResizeShortestEdge(") and "short_edge_length=(96,)" in identity[
        "augmentation"] and "RandomFlip" not in identity["augmentation"]  # RANDOM_FLIP none

    caplog.clear()
    register(NAME, datasets["grey"])
    with caplog.at_level(logging.INFO, logger="freqdet.detection.stats"):
        _train_net(cfgs[1], tmp_path)
    (line,) = _logs(caplog, "was computed automatically for other data than this run")
    assert f"MODEL.PIXEL_STATS_FILE='{stats}'" in line and "dataset.fingerprint: the file's" in line
    assert f"dataset.json_file='{datasets['colour']}'" in line and f"dataset.json_file='{datasets['grey']}'" in line
    assert "computing it again over all 3 images" in line
    second = _stats(stats)
    assert second["identity"]["dataset"]["json_file"] == datasets["grey"]
    assert second["identity"]["dataset"]["fingerprint"] != identity["dataset"]["fingerprint"]
    # the grey copies have no chroma: the file is theirs, not the colour photos'
    chans, mean, std, n = dataset_dct_stats(cfgs[3], NAME)
    assert n == 3 and second["mean"] == {str(c): float(m) for c, m in zip(chans, mean)}
    assert abs(second["mean"]["64"] - first["mean"]["64"]) > 1 and second["std"]["65"] < first["std"]["65"]

    caplog.clear()  # a third run on the same data uses the file as it is
    mtime = os.path.getmtime(stats)
    with caplog.at_level(logging.INFO, logger="freqdet.detection.stats"):
        assert ensure_dct_stats(cfgs[2]) == stats
    assert os.path.getmtime(stats) == mtime and _logs(caplog, "matches this run")


def _full(cfg):
    cfg.INPUT.DCT.CHANNELS = ["192"]
    return cfg


def _compute_dct_stats_tool():
    spec = importlib.util.spec_from_file_location("compute_dct_stats", os.path.join(REPO, "tools", "compute_dct_stats.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_user_made_statistics_of_other_data_are_refused(datasets, tmp_path):
    """tools/compute_dct_stats.py's file is the user's: on other data it is refused, never overwritten, and
    the message names the key, both sides and the fix."""
    stats = tmp_path / "mine.json"
    register(NAME, datasets["colour"])
    cfg = _cfg(stats)
    config = tmp_path / "c.yaml"
    config.write_text(cfg.dump())
    assert _compute_dct_stats_tool().main(["--config-file", str(config), "--output", str(stats)]) == 0
    made = stats.read_text()
    assert "auto" not in json.loads(made) and json.loads(made)["identity"] == json.loads(
        json.dumps(stats_identity(cfg, NAME)))
    assert ensure_dct_stats(cfg) == str(stats) and stats.read_text() == made  # same data: used

    register(NAME, datasets["grey"])
    with pytest.raises(StatsMismatchError) as e:
        ensure_dct_stats(_cfg(stats))
    message = str(e.value)
    assert message.startswith(f"MODEL.PIXEL_STATS_FILE='{stats}' was measured on other data than this run uses")
    assert "dataset.fingerprint: the file's '" in message
    assert f"the file was made for dataset.name='{NAME}', dataset.json_file='{datasets['colour']}'" in message
    assert f"this run has dataset.json_file='{datasets['grey']}')" in message
    assert "It has no \"auto\" mark (it was made by a tool such as tools/compute_dct_stats.py" in message
    assert ("delete it (tools/train_net.py then computes it for this run), recompute it with "
            "tools/compute_dct_stats.py, or point MODEL.PIXEL_STATS_FILE at another file") in message
    assert stats.read_text() == made


def test_model_build_checks_s_from_source_and_augmentation(datasets, tmp_path):
    """Where no dataset is at hand (demo, export, any build_model), the input side of the identity is
    checked: a file measured with another augmentation or FROM_SOURCE is refused, automatic or not."""
    stats = tmp_path / "auto.json"
    register(NAME, datasets["colour"])
    ensure_dct_stats(_cfg(stats))
    assert build_model(_cfg(stats)).pixel_mean.numel() == 24
    with pytest.raises(StatsMismatchError, match=r"augmentation: the file's \"ResizeShortestEdge\(.*short_edge_length="
                                                 r"\(96,\)\)\", this run's \"ResizeShortestEdge\(.*\(64,\)\)\"; "
                                                 rf"the file was made for dataset.name='{NAME}', .*\. "
                                                 r"It was computed automatically for another run"):
        build_model(_cfg(stats, "", "INPUT.MIN_SIZE_TRAIN", (64,)))
    with pytest.raises(StatsMismatchError, match=r"from_source: the file's False, this run's True"):
        build_model(_cfg(stats, "", "INPUT.DCT.FROM_SOURCE", True))
    # the input format is recorded but not compared: YCbCr is the same from RGB and BGR reads
    assert build_model(_cfg(stats, "", "INPUT.FORMAT", "RGB")).pixel_mean.numel() == 24


def test_files_without_identity_are_used_with_a_warning(datasets, tmp_path, caplog):
    stats = tmp_path / "old.json"
    save_dct_stats(str(stats), "192", np.zeros(192), np.ones(192), dataset="coco_2017_train", upsample=1)
    register(NAME, datasets["colour"])
    made = stats.read_text()
    with caplog.at_level(logging.WARNING, logger="freqdet.detection.stats"):
        assert ensure_dct_stats(_cfg(stats)) == str(stats)
        assert build_model(_cfg(stats)).pixel_std.flatten().tolist() == [1.0] * 24
    assert stats.read_text() == made
    (line,) = _logs(caplog, "records no identity")
    assert f"MODEL.PIXEL_STATS_FILE='{stats}'" in line and "cannot be checked" in line


def test_evaluation_without_the_training_data_uses_the_file(tmp_path, caplog):
    """--eval-only on a machine without the training json: an existing file is used, with a warning."""
    stats = tmp_path / "given.json"
    save_dct_stats(str(stats), "192", np.zeros(192), np.ones(192), upsample=1, identity={"upsample": 1})
    register("stats_identity_absent", str(tmp_path / "absent" / "train.json"))
    cfg = _cfg(stats, "", "DATASETS.TRAIN", ("stats_identity_absent",))
    with pytest.raises(FileNotFoundError):  # training needs its data
        ensure_dct_stats(cfg)
    with caplog.at_level(logging.WARNING, logger="freqdet.detection.stats"):
        assert ensure_dct_stats(cfg, require_dataset=False) == str(stats)
    assert _logs(caplog, "is used without checking it against stats_identity_absent")


def test_image_folder_statistics_follow_their_folder(tmp_path, photos, caplog):
    """Classification: one statistics path, two ImageFolders. The automatic file is recomputed for the
    second folder (logged); a file without the "auto" mark (by hand) is refused."""
    a = os.path.join(write_tiny_imagefolder(tmp_path / "a", photos, train_per_class=2, val_per_class=1), "train")
    b = os.path.join(write_tiny_imagefolder(tmp_path / "b", photos, train_per_class=2, val_per_class=1, seed=5),
                     "train")
    path = str(tmp_path / "dct_stats.json")
    mean_a, _ = cached_image_folder_stats(path, a, "24", size=64, progress=False)
    assert _stats(path)["auto"] is True and _stats(path)["identity"]["dataset"]["images"] == 6
    with caplog.at_level(logging.WARNING, logger="freqdet.classification.stats"):
        mean_b, std_b = cached_image_folder_stats(path, b, "24", size=64, progress=False)
    (line,) = _logs(caplog, "was computed automatically for other images or geometry")
    assert "dataset.fingerprint: the file's" in line and f"dataset.root='{a}'" in line and f"dataset.root='{b}'" in line
    assert mean_a != mean_b and _stats(path)["identity"]["dataset"]["root"] == b
    assert cached_image_folder_stats(path, b, "24", size=64) == (mean_b, std_b)  # matches: read, not recomputed

    data = _stats(path)
    del data["auto"]  # as if written by hand
    with open(path, "w") as f:
        json.dump(data, f)
    with pytest.raises(StatsMismatchError, match=rf"MODEL.PIXEL_STATS_FILE='{path}' was measured on other data .*"
                                                 r"dataset.fingerprint.*To fix: delete it \(training then computes "
                                                 r"it for these images\) or point MODEL.PIXEL_STATS_FILE"):
        cached_image_folder_stats(path, a, "24", size=64, progress=False)
