"""DATALOADER.SKIP_UNREADABLE_IMAGES: off, an unreadable training image stops the loader with an
error naming it (Detectron2's behaviour); on, it is logged, replaced by another image (batches keep
their size) and counted in the metrics as data/skipped_images. Unreadable includes a json entry whose
file is missing or is a directory; evaluation never skips."""
import json
import logging
import os

import cv2
import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog, build_detection_train_loader
from detectron2.structures import BoxMode

from classification_utils import write_tiny_imagefolder
from freqdet.classification.data import NoneIfUnreadable, image_folder
from freqdet.classification.stats import image_folder_dct_stats
from freqdet.detection.mapper import DCTDatasetMapper
from freqdet.detection.stats import dataset_dct_stats
from freqdet.core.image_io import UnreadableImageError
from freqdet.detection.trainer import Trainer
from test_foreign_coco import _cfg as foreign_cfg

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "skip_unreadable_test"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """4 good 64x96 JPEGs with one box each, a truncated JPEG and an empty file, as a registered dataset."""
    root = tmp_path_factory.mktemp("skip")
    rng = np.random.default_rng(0)
    dicts = []
    for i in range(6):
        path = root / f"{i}.jpg"
        image = rng.integers(0, 80, (64, 96, 3), dtype=np.uint8)
        image[10:40, 20:60] = (30, 30, 220)
        cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        if i == 2:
            path.write_bytes(path.read_bytes()[:300])
        if i == 4:
            path.write_bytes(b"")
        dicts.append({"file_name": str(path), "image_id": i, "height": 64, "width": 96, "annotations": [
            {"bbox": [20.0, 10.0, 60.0, 40.0], "bbox_mode": BoxMode.XYXY_ABS, "category_id": 0, "iscrowd": 0,
             "segmentation": [[20.0, 10.0, 60.0, 10.0, 60.0, 40.0, 20.0, 40.0]]}]})
    if NAME not in DatasetCatalog.list():
        DatasetCatalog.register(NAME, lambda: [dict(d) for d in dicts])
        MetadataCatalog.get(NAME).set(thing_classes=["a", "b", "c"])
    return {"bad": {dicts[2]["file_name"], dicts[4]["file_name"]}, "root": root}


def _cfg(out="", skip=True, workers=0, name=NAME):
    cfg = foreign_cfg({"name": name}, out)
    cfg.merge_from_list(["DATASETS.TEST", (), "DATALOADER.SKIP_UNREADABLE_IMAGES", skip,
                         "DATALOADER.NUM_WORKERS", workers, "INPUT.MIN_SIZE_TRAIN", (64,), "SEED", 3])
    return cfg


def test_default_fails_loudly_naming_the_file(data):
    cfg = _cfg(skip=False)
    mapper = DCTDatasetMapper(cfg, is_train=True)
    assert mapper.skipped is None
    with pytest.raises(UnreadableImageError, match=r"cannot read image .*/(2|4)\.jpg: "):
        for _, _ in zip(range(4), build_detection_train_loader(cfg, mapper=mapper)):
            pass


def test_skipped_images_are_replaced_and_counted(data, caplog):
    cfg = _cfg(skip=True)
    bad = next(d for d in DatasetCatalog.get(NAME) if d["file_name"].endswith("4.jpg"))
    with pytest.raises(UnreadableImageError, match="4.jpg: the file is empty"):  # evaluation never skips
        DCTDatasetMapper(cfg, is_train=False)(dict(bad))
    mapper = DCTDatasetMapper(cfg, is_train=True)
    with caplog.at_level(logging.WARNING, logger="freqdet.detection.mapper"):
        batches = [b for _, b in zip(range(4), build_detection_train_loader(cfg, mapper=mapper))]
    assert [len(b) for b in batches] == [2, 2, 2, 2]  # every batch full
    assert not {d["file_name"] for b in batches for d in b} & data["bad"]
    # 8 images took 8 sampler indices: the first epoch's 6 hold both bad files, the next 2 may repeat one
    warnings = [r.getMessage() for r in caplog.records if "skipping unreadable training image" in r.getMessage()]
    assert 2 <= mapper.num_skipped <= 4 and len(warnings) == mapper.num_skipped
    assert any("2.jpg: OSError: Truncated File Read" in w for w in warnings)  # cut inside the header
    assert any("4.jpg: the file is empty (0 bytes)" in w for w in warnings)
    # in worker processes too: the count lives in shared memory
    cfg = _cfg(skip=True, workers=1)
    mapper = DCTDatasetMapper(cfg, is_train=True)
    batches = [b for _, b in zip(range(4), build_detection_train_loader(cfg, mapper=mapper))]
    assert [len(b) for b in batches] == [2, 2, 2, 2] and mapper.num_skipped >= 2


def test_training_logs_the_running_count(data, tmp_path):
    cfg = _cfg(tmp_path, skip=True)
    cfg.SOLVER.MAX_ITER = 4
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    rows = [json.loads(line) for line in open(tmp_path / "metrics.json")]
    counts = [r["data/skipped_images"] for r in rows if "data/skipped_images" in r]
    assert counts and counts == sorted(counts) and counts[-1] == trainer.train_mapper.num_skipped >= 2
    assert all(np.isfinite(r["total_loss"]) for r in rows if "total_loss" in r)


MISSING = "skip_missing_test"


def test_missing_files_and_directories_are_skipped_too(data, tmp_path, caplog):
    """The commonest gap in a real dataset: the json names a file that is not there (or a folder). Skip
    mode logs, replaces and counts it like an undecodable file; evaluation stops naming it."""
    good = [d for d in DatasetCatalog.get(NAME) if d["file_name"] not in data["bad"]]
    missing = dict(good[0], file_name=str(tmp_path / "gone.jpg"), image_id=10)
    (tmp_path / "folder.jpg").mkdir()
    folder = dict(good[0], file_name=str(tmp_path / "folder.jpg"), image_id=11)
    dicts = good + [missing, folder]
    if MISSING in DatasetCatalog.list():
        DatasetCatalog.remove(MISSING)
    DatasetCatalog.register(MISSING, lambda: [dict(d) for d in dicts])
    MetadataCatalog.get(MISSING).set(thing_classes=["a", "b", "c"])

    cfg = _cfg(skip=False, name=MISSING)
    with pytest.raises(UnreadableImageError, match=rf"cannot read image {tmp_path}/folder.jpg: it is a directory"):
        DCTDatasetMapper(cfg, is_train=True)(dict(folder))
    cfg = _cfg(skip=True, name=MISSING)
    with pytest.raises(UnreadableImageError, match=rf"cannot read image {tmp_path}/gone.jpg: the file does not exist"):
        for _ in Trainer.build_test_loader(cfg, MISSING):  # evaluation covers every image or fails
            pass
    mapper = DCTDatasetMapper(cfg, is_train=True)
    with caplog.at_level(logging.WARNING, logger="freqdet.detection.mapper"):
        batches = [b for _, b in zip(range(4), build_detection_train_loader(cfg, mapper=mapper))]
        chans, mean, std, n = dataset_dct_stats(cfg, MISSING)  # the statistics leave them out too
    assert [len(b) for b in batches] == [2, 2, 2, 2]
    assert not {d["file_name"] for b in batches for d in b} & {missing["file_name"], folder["file_name"]}
    warnings = [r.getMessage() for r in caplog.records if "skipping unreadable training image" in r.getMessage()]
    assert any(f"{tmp_path}/gone.jpg: the file does not exist" in w for w in warnings)
    assert any(f"{tmp_path}/folder.jpg: it is a directory, not a file" in w for w in warnings)
    assert mapper.num_skipped >= 2 and n == len(good) == 4


def test_classification_skips_a_broken_link(tmp_path, photos, caplog):
    """ImageFolder lists a link whose target is gone; skip mode leaves it out, else its error names it."""
    root = os.path.join(write_tiny_imagefolder(tmp_path / "cls", photos, train_per_class=2, val_per_class=1), "train")
    link = os.path.join(root, "coffee", "9.jpg")
    os.symlink(os.path.join(root, "coffee", "moved.jpg"), link)
    dataset = image_folder(root)
    index = [p for p, _ in dataset.samples].index(link)
    with pytest.raises(UnreadableImageError, match=r"9.jpg: it is a link to '.*moved.jpg', which does not exist"):
        dataset[index]
    skipping = NoneIfUnreadable(dataset)
    with caplog.at_level(logging.WARNING, logger="freqdet.classification.data"):
        assert skipping[index] is None and skipping.skipped.value == 1
    assert any("9.jpg: it is a link to" in r.getMessage() for r in caplog.records)
    assert image_folder_dct_stats(root, size=64, progress=False, skip_unreadable=True)[2] == 6
