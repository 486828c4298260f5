"""Odd and broken image files through the DCT mapper and the classification transforms: each one is
decoded to the pixels Detectron2's own reader gives (so boxes and masks still match), or rejected
with an error naming the file and the reason. Every file is written here by Pillow/OpenCV. Then odd
annotations: boxes of non-positive size are named, and random crops of polygon masks train."""
import json
import logging
import tracemalloc

import cv2
import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, DatasetMapper
from detectron2.engine import default_argument_parser
from detectron2.data import detection_utils as utils
from detectron2.modeling import build_model
from detectron2.structures import BoxMode
from PIL import Image

from freqdet.classification.data import read_rgb
from freqdet.classification.transforms import build_transform
from freqdet.detection.mapper import DCTDatasetMapper
from freqdet.core.image_io import UnreadableImageError
from freqdet.core import image_to_dct
from freqdet.core.reference import image_to_dct_reference
from freqdet.detection.data_check import check_training_datasets
from freqdet.detection.trainer import main
from test_detection_model import make_cfg
from test_foreign_coco import _cfg as foreign_cfg
from test_stats_identity import register, write_coco


@pytest.fixture(scope="module")
def src(china):
    """61x83 RGB crop of a real photo: neither side a multiple of 8."""
    return np.ascontiguousarray(china[100:161, 200:283])


def _write(path, kind, src):
    """Write ``src`` as one file variant; returns the RGB pixels it should decode to (None: lossy)."""
    img = Image.fromarray(src)
    if kind == "grey.jpg":
        img.convert("L").save(path, quality=95)
    elif kind == "cmyk.jpg":
        img.convert("CMYK").save(path, quality=95)
    elif kind == "progressive.jpg":
        img.save(path, quality=95, progressive=True)
    elif kind in ("420.jpg", "422.jpg", "444.jpg"):
        img.save(path, quality=95, subsampling={"420.jpg": 2, "422.jpg": 1, "444.jpg": 0}[kind])
    elif kind == "alpha.png":
        Image.fromarray(np.dstack([src, np.arange(src.size // 3, dtype=np.uint8).reshape(src.shape[:2])])).save(path)
        return src  # Detectron2 drops alpha (no compositing)
    elif kind == "palette.png":
        pal = img.convert("P", palette=Image.ADAPTIVE, colors=64)
        pal.save(path)
        return np.asarray(pal.convert("RGB"))
    elif kind == "grey16.png":
        grey16 = (src[..., 1].astype(np.uint16) << 8) | src[..., 0]
        cv2.imwrite(str(path), grey16)
        return np.repeat(src[..., 1:2], 3, axis=2)  # the high byte
    elif kind == "rgb16.png":
        rgb16 = (src.astype(np.uint16) << 8) | 0x7F
        cv2.imwrite(str(path), rgb16[..., ::-1])  # OpenCV writes BGR
        return src
    else:
        raise ValueError(kind)
    return None


GOOD = ["grey.jpg", "cmyk.jpg", "progressive.jpg", "420.jpg", "422.jpg", "444.jpg", "alpha.png", "palette.png",
        "grey16.png", "rgb16.png"]


def _dict(path, h, w):
    return {"file_name": str(path), "image_id": 0, "height": h, "width": w}


def _cfg(s=1, **kw):
    cfg = make_cfg("24", s)
    # MIN_SIZE_TEST 0: no test-time resize, the DCT of the file itself; float32 for exact comparisons
    cfg.merge_from_list(["INPUT.MIN_SIZE_TEST", 0, "INPUT.DCT.DTYPE", "float32"])
    for k, v in kw.items():
        cfg.merge_from_list([k, v])
    return cfg


@pytest.mark.parametrize("kind", GOOD)
@pytest.mark.parametrize("s", [1, 2])
def test_decodable_variants(tmp_path, src, kind, s):
    path = tmp_path / kind
    exact = _write(path, kind, src)
    out = DCTDatasetMapper(_cfg(s), is_train=False)(_dict(path, *src.shape[:2]))
    pixels = utils.read_image(str(path), "RGB") if kind != "grey16.png" else exact
    if exact is not None:
        np.testing.assert_array_equal(pixels, exact)
    else:  # lossy JPEG: close to the source; greyscale is the source's luma
        want = src if kind != "grey.jpg" else np.repeat(np.asarray(Image.fromarray(src).convert("L"))[..., None], 3, 2)
        assert np.abs(pixels.astype(int) - want).mean() < 4
    assert out["image"].shape == (24, -(-61 * s // 8), -(-83 * s // 8)) and out["image_size"] == (61, 83)
    np.testing.assert_allclose(out["image"].numpy(), image_to_dct_reference(pixels, "24", s), atol=2e-3, rtol=1e-4)
    # the classification transform reads the same pixels
    np.testing.assert_array_equal(np.asarray(read_rgb(str(path))), pixels)


def test_16bit_grey_is_scaled_not_clipped(tmp_path, src):
    """Detectron2's reader (Pillow's conversion) clips 16-bit grey at 255; ours keeps the image."""
    path = tmp_path / "grey16.png"
    exact = _write(path, "grey16.png", src)
    assert (utils.read_image(str(path), "RGB") == 255).mean() > 0.9
    out = DCTDatasetMapper(_cfg(), is_train=False)(_dict(path, *src.shape[:2]))
    np.testing.assert_allclose(out["image"].numpy(), image_to_dct(exact, "24"), atol=1e-4)


@pytest.mark.parametrize("kind, reason", [
    ("truncated.jpg", r"OSError: image file is truncated \(\d+ bytes not processed\)"),
    ("empty.jpg", r"the file is empty \(0 bytes\)"),
    ("text.jpg", r"not an image format Pillow can decode \(24 bytes, starting b'name,label\\nc'\)"),
    ("half.png", r"(OSError|SyntaxError|ValueError): .*"),
    ("missing.jpg", r"the file does not exist"),  # named in the json, not on disk
    ("folder.jpg", r"it is a directory, not a file"),
])
def test_undecodable_files_are_named(tmp_path, src, kind, reason):
    path = tmp_path / kind
    if kind == "truncated.jpg":
        Image.fromarray(src).save(path, quality=95)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif kind == "half.png":
        Image.fromarray(src).save(path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif kind == "text.jpg":
        path.write_text("name,label\ncat,1\ndog,2\n\n")
    elif kind == "folder.jpg":
        path.mkdir()
    elif kind == "missing.jpg":
        pass
    else:
        path.write_bytes(b"")
    message = rf"cannot read image {path}: {reason}"
    for is_train in (True, False):  # default: fail loudly, as Detectron2
        with pytest.raises(UnreadableImageError, match=message):
            DCTDatasetMapper(_cfg(), is_train=is_train)(_dict(path, 61, 83))
    with pytest.raises(UnreadableImageError, match=message):
        read_rgb(str(path))


def test_exif_rotation_matches_detectron2_rgb_mapper(tmp_path, src):
    """The file stores the pixels sideways with EXIF orientation 6 (rotate 90 degrees clockwise to
    display); annotations are in the displayed frame. Our DCT is that of the image Detectron2's RGB
    mapper makes, and the red box's pixels sit under its ground-truth box and mask."""
    shown = src.copy()
    shown[10:30, 40:70] = (255, 0, 0)  # displayed frame: 61 x 83
    stored = np.ascontiguousarray(np.rot90(shown, k=1))  # undo a clockwise turn: 83 x 61 on disk
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(path, quality=95, exif=exif, subsampling=0)
    d = {**_dict(path, 61, 83), "annotations": [{
        "bbox": [40.0, 10.0, 70.0, 30.0], "bbox_mode": BoxMode.XYXY_ABS, "category_id": 1, "iscrowd": 0,
        "segmentation": [[40.0, 10.0, 70.0, 10.0, 70.0, 30.0, 40.0, 30.0]]}]}
    for s in (1, 2):
        cfg = _cfg(s, **{"INPUT.MIN_SIZE_TRAIN": (61,), "INPUT.MAX_SIZE_TRAIN": 1000, "INPUT.FORMAT": "RGB",
                         "INPUT.MASK_FORMAT": "bitmask"})
        np.random.seed(0)
        ours = DCTDatasetMapper(cfg, is_train=True)(dict(d))
        np.random.seed(0)
        rgb = DatasetMapper(cfg, is_train=True)(dict(d))
        image = rgb["image"].permute(1, 2, 0).numpy()
        assert image.shape == (61, 83, 3)
        np.testing.assert_allclose(ours["image"].numpy(), image_to_dct(image, "24", s, input_format="RGB"), atol=1e-4)
        torch.testing.assert_close(ours["instances"].gt_boxes.tensor, rgb["instances"].gt_boxes.tensor)
        assert torch.equal(ours["instances"].gt_masks.tensor, rgb["instances"].gt_masks.tensor)
        x0, y0, x1, y1 = ours["instances"].gt_boxes.tensor[0].round().int().tolist()
        flipped = x0 != 40  # RandomFlip may have mirrored image and box together
        assert (x0, x1) == ((83 - 70, 83 - 40) if flipped else (40, 70)) and (y0, y1) == (10, 30)
        red = image[y0 + 2:y1 - 2, x0 + 2:x1 - 2].astype(int)
        assert (red[..., 0] > 200).all() and (red[..., 1:] < 60).all()


@pytest.mark.parametrize("hw", [(1, 1), (3, 5), (7, 9), (8, 8), (13, 21)])
@pytest.mark.parametrize("s", [1, 2])
def test_tiny_and_odd_sizes(tmp_path, src, hw, s):
    path = tmp_path / "tiny.png"
    pixels = np.ascontiguousarray(src[: hw[0], : hw[1]])
    Image.fromarray(pixels).save(path)
    out = DCTDatasetMapper(_cfg(s), is_train=False)(_dict(path, *hw))
    assert out["image"].shape == (24, -(-hw[0] * s // 8), -(-hw[1] * s // 8))
    np.testing.assert_allclose(out["image"].numpy(), image_to_dct_reference(pixels, "24", s), atol=2e-3, rtol=1e-4)


def test_model_runs_on_images_smaller_than_a_block(tmp_path, src):
    cfg = _cfg(1)
    model = build_model(cfg).eval()
    mapper = DCTDatasetMapper(cfg, is_train=False)
    inputs = []
    for hw in ((1, 1), (5, 3)):
        path = tmp_path / f"{hw[0]}x{hw[1]}.png"
        Image.fromarray(np.ascontiguousarray(src[: hw[0], : hw[1]])).save(path)
        inputs.append(mapper(_dict(path, *hw)))
    with torch.no_grad():
        outs = model(inputs)
    assert [o["instances"].image_size for o in outs] == [(1, 1), (5, 3)]


def test_very_large_image(tmp_path):
    """8000x6000: read, resized by the test-time augmentation and transformed within a few copies of
    the decoded image; the DCT of the full-size image (s=2, no resize) never builds the 4x image."""
    yy, xx = np.mgrid[0:6000, 0:8000]
    big = np.stack([(xx // 31) % 256, (yy // 23) % 256, ((xx + yy) // 47) % 256], axis=2).astype(np.uint8)
    path = tmp_path / "big.jpg"
    cv2.imwrite(str(path), big, [cv2.IMWRITE_JPEG_QUALITY, 80])
    del yy, xx
    cfg = _cfg(2, **{"INPUT.MIN_SIZE_TEST": 800, "INPUT.MAX_SIZE_TEST": 1333})
    out = DCTDatasetMapper(cfg, is_train=False)(_dict(path, 6000, 8000))
    assert out["image_size"] == (800, 1067) and out["image"].shape == (24, 200, 267)
    tracemalloc.start()
    coeffs = image_to_dct(big, "24", upsample=2, dtype=np.float16, input_format="BGR")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert coeffs.shape == (24, 1500, 2000)
    assert peak < 4 * big.nbytes  # the enlarged float32 image alone would be 16x big.nbytes


def test_classification_transform_on_odd_files(tmp_path, src):
    """The classification transforms get the same pixels and produce their fixed-size tensors."""
    t = build_transform("dct", train=False, size=64, channels="24")
    for kind in ("cmyk.jpg", "palette.png", "grey16.png", "alpha.png"):
        path = tmp_path / kind
        _write(path, kind, src)
        x = t(read_rgb(str(path)))
        assert x.shape == (24, 8, 8) and torch.isfinite(x).all()


BAD_BOXES = "bad_boxes_test"


@pytest.fixture
def bad_boxes(tmp_path, src):
    """3 images, one box each (annotation ids 100..102): a negative width, a zero height, a good box."""
    images = [np.ascontiguousarray(src[:, :80]), np.ascontiguousarray(src[:, 3:]), np.ascontiguousarray(src)]
    json_file = write_coco(tmp_path / "bad_boxes", images, [(50, 10, -20, 30), (10, 20, 30, 0), (10, 10, 40, 30)])
    register(BAD_BOXES, json_file)
    return json_file


def test_boxes_of_non_positive_size_are_named_once(bad_boxes, caplog):
    """Detectron2 loads such boxes without a word (and trains on the mirror of a negative one); the
    training datasets' check names the json file and the annotation ids, once per dataset."""
    with caplog.at_level(logging.INFO):
        dicts = DatasetCatalog.get(BAD_BOXES)
    assert [a["bbox"] for d in dicts for a in d["annotations"]][:2] == [[50, 10, -20, 30], [10, 20, 30, 0]]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # Detectron2 itself: silent
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="freqdet.detection.data_check"):
        assert set(check_training_datasets([BAD_BOXES])) == {BAD_BOXES}
        check_training_datasets([BAD_BOXES])  # loaded again (another run step): not warned again
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith(f"{bad_boxes} (dataset {BAD_BOXES}): 2 boxes of zero or negative width or height")
    assert "annotation id 100 (image " in line and "0.jpg, bbox [50, 10, -20, 30])" in line
    assert "annotation id 101 (image " in line and "annotation id 102" not in line


def test_crop_with_polygon_masks_trains_a_step(bad_boxes, tmp_path, caplog):
    """INPUT.CROP.ENABLED with polygon masks (Mask R-CNN's default format) crops the polygons with
    shapely (an install requirement): train_net's main() trains, and names the bad boxes on the way."""
    cfg = foreign_cfg({"name": BAD_BOXES}, tmp_path / "out")
    cfg.merge_from_list(["DATASETS.TEST", (), "INPUT.MASK_FORMAT", "polygon", "INPUT.CROP.ENABLED", True,
                         "INPUT.CROP.TYPE", "relative_range", "INPUT.CROP.SIZE", [0.7, 0.7], "SOLVER.MAX_ITER", 1,
                         "MODEL.PIXEL_STATS_FILE", str(tmp_path / "stats.json")])
    config = tmp_path / "config.yaml"
    config.write_text(cfg.dump())
    with caplog.at_level(logging.WARNING, logger="freqdet.detection.data_check"):
        main(default_argument_parser().parse_args(["--config-file", str(config)]))
    with open(tmp_path / "out" / "metrics.json") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    assert rows[-1]["iteration"] == 0 and np.isfinite(rows[-1]["loss_mask"])
    assert "RandomCrop(crop_size=[0.7, 0.7]" in json.load(open(tmp_path / "stats.json"))["identity"]["augmentation"]
    assert len([r for r in caplog.records if "2 boxes of zero or negative width" in r.getMessage()]) == 1
