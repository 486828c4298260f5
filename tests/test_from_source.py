"""INPUT.DCT.FROM_SOURCE: DCT of the original photo resized straight to s x the augmented size."""
import numpy as np
import pytest
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T
from detectron2.structures import BoxMode
from PIL import Image

from freqdet.detection.mapper import DCTDatasetMapper
from freqdet.core import image_to_dct
from test_detection_model import make_cfg


@pytest.fixture(scope="module")
def record(china, tmp_path_factory):
    path = tmp_path_factory.mktemp("src") / "china.jpg"
    Image.fromarray(china).save(path, quality=95)
    h, w = china.shape[:2]
    poly = [[100.0, 100.0, 300.0, 120.0, 250.0, 330.0]]
    return {"file_name": str(path), "height": h, "width": w, "image_id": 1, "annotations": [
        {"bbox": [100.0, 100.0, 200.0, 230.0], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 0,
         "segmentation": poly, "iscrowd": 0}]}


def _cfg(from_source):
    cfg = make_cfg("24", 2)
    cfg.INPUT.DCT.FROM_SOURCE = from_source
    cfg.INPUT.DCT.DTYPE = "float32"
    return cfg


def _map(record, from_source, augs, seed=0):
    np.random.seed(seed)  # same augmentation draws for both mappers
    return DCTDatasetMapper(_cfg(from_source), is_train=True, augmentations=augs)(dict(record))


def _pil_resize(image, h, w):
    return np.asarray(Image.fromarray(image).resize((w, h), Image.BILINEAR))


def _high_freq_energy(dct):  # DCT-24's Y channels other than u, v <= 1
    return float((dct[[2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]] ** 2).sum())


def test_from_source_equals_dct_of_resized_original(record):
    augs = [T.ResizeShortestEdge(160, 320), T.RandomFlip(prob=1.0)]
    normal, sharp = _map(record, False, augs), _map(record, True, augs)
    h, w = normal["image_size"]
    assert (h, w) == (160, 240) and sharp["image_size"] == (h, w)
    original = utils.read_image(record["file_name"], format="BGR")
    expected = image_to_dct(_pil_resize(original, 2 * h, 2 * w)[:, ::-1].copy(), "24", 1, np.float32, "BGR")
    assert sharp["image"].shape == normal["image"].shape == (24, 2 * h // 8, 2 * w // 8)
    np.testing.assert_array_equal(sharp["image"].numpy(), expected)
    # Sharper than the upsampled augmented image, same coarse content.
    assert _high_freq_energy(sharp["image"].numpy()) > 1.5 * _high_freq_energy(normal["image"].numpy())
    dc_sharp, dc_normal = sharp["image"][0].numpy(), normal["image"][0].numpy()
    assert np.abs(dc_sharp - dc_normal).mean() < 0.02 * dc_normal.std()
    a, b = normal["instances"], sharp["instances"]
    assert a.image_size == b.image_size == (h, w)
    assert a.gt_boxes.tensor.equal(b.gt_boxes.tensor) and a.gt_classes.equal(b.gt_classes)
    assert all(np.array_equal(p, q) for pa, pb in zip(a.gt_masks.polygons, b.gt_masks.polygons) for p, q in zip(pa, pb))


def test_from_source_crop_before_and_after_resize(record):
    record = {**record, "annotations": [{k: v for k, v in a.items() if k != "segmentation"}  # cropping polygons
                                        for a in record["annotations"]]}                       # needs shapely
    original = utils.read_image(record["file_name"], format="BGR")
    crop_first = [T.RandomCrop("absolute", (300, 400)), T.ResizeShortestEdge(160, 320)]
    np.random.seed(3)
    crop = next(t for t in T.AugmentationList(crop_first)(T.AugInput(original.copy())) if isinstance(t, T.CropTransform))
    sharp = _map(record, True, crop_first, seed=3)
    h, w = sharp["image_size"]
    expected = _pil_resize(original[crop.y0:crop.y0 + crop.h, crop.x0:crop.x0 + crop.w], 2 * h, 2 * w)
    np.testing.assert_array_equal(sharp["image"].numpy(), image_to_dct(expected, "24", 1, np.float32, "BGR"))

    resize_first = [T.ResizeShortestEdge(160, 320), T.RandomCrop("absolute", (96, 128))]
    np.random.seed(4)
    tfms = T.AugmentationList(resize_first)(T.AugInput(original.copy()))
    crop, resize = tfms.transforms[1], tfms.transforms[0]
    normal, sharp = _map(record, False, resize_first, seed=4), _map(record, True, resize_first, seed=4)
    assert sharp["image_size"] == normal["image_size"] == (96, 128)
    big = _pil_resize(original, 2 * resize.new_h, 2 * resize.new_w)
    big = big[2 * crop.y0:2 * crop.y0 + 192, 2 * crop.x0:2 * crop.x0 + 256]
    np.testing.assert_array_equal(sharp["image"].numpy(), image_to_dct(big, "24", 1, np.float32, "BGR"))
    assert normal["instances"].gt_boxes.tensor.equal(sharp["instances"].gt_boxes.tensor)


def test_from_source_refuses_other_augmentations():
    with pytest.raises(ValueError, match=r"INPUT\.DCT\.FROM_SOURCE.*RandomRotation"):
        DCTDatasetMapper(_cfg(True), is_train=True, augmentations=[T.RandomRotation([0, 10])])
    cfg = _cfg(True)
    cfg.INPUT.DCT.ON_DEVICE = True
    with pytest.raises(ValueError, match=r"INPUT\.DCT\.FROM_SOURCE.*ON_DEVICE"):
        DCTDatasetMapper(cfg, is_train=True)
