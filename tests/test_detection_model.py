"""DCT backbone, FreqRCNN and DCTDatasetMapper on real photos with the real Detectron2."""
import cv2
import numpy as np
import pytest
import torch
from detectron2.data import transforms as T
from detectron2.layers import ShapeSpec
from detectron2.modeling import build_backbone, build_model
from detectron2.structures import BoxMode, Boxes, Instances

from freqdet.core import dct_grid_size, parse_channels
from freqdet.detection.config import fpn_feature_opts, load_config
from freqdet.detection.mapper import DCTDatasetMapper

BASE = "configs/Base-FreqRCNN-FPN.yaml"


def make_cfg(channels="24", upsample=2, mask=True):
    c = len(parse_channels(channels))
    return load_config(BASE, [
        "INPUT.DCT.CHANNELS", [channels], "INPUT.DCT.UPSAMPLE", upsample,
        "MODEL.PIXEL_STATS_FILE", "", "MODEL.PIXEL_MEAN", [0.0] * c, "MODEL.PIXEL_STD", [20.0] * c,
        "MODEL.DEVICE", "cpu", "MODEL.MASK_ON", mask, "MODEL.ROI_HEADS.NUM_CLASSES", 3,
        "INPUT.MIN_SIZE_TEST", 160, "INPUT.MAX_SIZE_TEST", 320,
        *fpn_feature_opts(upsample),  # FPN names levels by stride: at s=1 res2 (8 px) is "p3"
    ])


@pytest.mark.parametrize("upsample", [1, 2])
@pytest.mark.parametrize("channels", ["6", "24", "64T", "192"])
def test_backbone_shapes_and_strides(channels, upsample):
    cfg = make_cfg(channels, upsample)
    c = len(parse_channels(channels))
    backbone = build_backbone(cfg, ShapeSpec(channels=c))
    cell = 8 // upsample
    shapes = backbone.output_shape()
    strides = [cell * 2**i for i in range(5)]  # res2..res5 + P6: s=2 4..64, s=1 8..128
    expected = {f"p{int(np.log2(st))}": st for st in strides}  # Detectron2 names levels by stride
    assert {k: v.stride for k, v in shapes.items()} == expected
    assert backbone.size_divisibility == 8 * cell  # res5's pixel stride
    res2_first = backbone.bottom_up.res2[0]
    assert res2_first.conv1.weight.shape[1] == c and res2_first.shortcut.weight.shape[1] == c
    assert backbone.bottom_up.stem.stride == cell
    grid = torch.randn(2, c, 16, 24)
    out = backbone(grid)
    for name, spec in shapes.items():
        k = spec.stride // cell  # stride on the DCT grid
        assert tuple(out[name].shape) == (2, 256, -(-16 // k), -(-24 // k))


def test_groupnorm_backbone_with_channels_not_divisible_by_groups():
    cfg = make_cfg("24", 2)
    cfg.MODEL.RESNETS.NORM = "GN"
    backbone = build_backbone(cfg, ShapeSpec(channels=24))
    assert backbone(torch.randn(1, 24, 8, 8))["p2"].shape == (1, 256, 8, 8)


def test_plain_dct_resnet_backbone():
    cfg = make_cfg("24", 1)
    cfg.MODEL.BACKBONE.NAME = "build_dct_resnet_backbone"
    cfg.MODEL.RESNETS.OUT_FEATURES = ["res4"]
    backbone = build_backbone(cfg, ShapeSpec(channels=24))
    assert backbone.output_shape()["res4"].stride == 32
    assert backbone(torch.randn(1, 24, 16, 16))["res4"].shape == (1, 1024, 4, 4)


@pytest.fixture
def photo_dict(tmp_path, china):
    """A real JPEG (cropped to 200x304, multiples of 8) with two annotated objects."""
    path = tmp_path / "china.jpg"
    cv2.imwrite(str(path), cv2.cvtColor(china[:200, :304], cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    square = [40.0, 30.0, 120.0, 90.0]
    tri = [[200.0, 20.0, 290.0, 20.0, 245.0, 150.0]]
    return {
        "file_name": str(path), "image_id": 1, "height": 200, "width": 304,
        "annotations": [
            {"bbox": square, "bbox_mode": BoxMode.XYXY_ABS, "category_id": 0,
             "segmentation": [[40.0, 30.0, 120.0, 30.0, 120.0, 90.0, 40.0, 90.0]], "iscrowd": 0},
            {"bbox": [200.0, 20.0, 290.0, 150.0], "bbox_mode": BoxMode.XYXY_ABS, "category_id": 2,
             "segmentation": tri, "iscrowd": 0},
        ],
    }


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("upsample", [1, 2])
def test_mapper_output(photo_dict, upsample, dtype):
    cfg = make_cfg("24", upsample)
    cfg.INPUT.DCT.DTYPE = dtype
    cfg.INPUT.MIN_SIZE_TRAIN = (150,)
    cfg.INPUT.MAX_SIZE_TRAIN = 1000
    cfg.INPUT.RANDOM_FLIP = "none"
    out = DCTDatasetMapper(cfg, is_train=True)(dict(photo_dict))
    h, w = 150, round(304 * 150 / 200)  # ResizeShortestEdge, pixel space
    assert out["image_size"] == (h, w) == out["instances"].image_size
    assert out["image"].dtype == getattr(torch, dtype)
    assert tuple(out["image"].shape) == (24, *dct_grid_size(h, w, upsample))
    assert (out["height"], out["width"]) == (200, 304)
    boxes = out["instances"].gt_boxes.tensor
    assert boxes[:, 2].max() <= w and boxes[:, 3].max() <= h
    assert torch.allclose(boxes[0], torch.tensor([40.0, 30.0, 120.0, 90.0]) * 0.75, atol=0.5)
    assert out["instances"].gt_masks.polygons[0][0].max() <= w


@pytest.mark.parametrize("upsample", [1, 2])
def test_mapper_flip_agrees_for_dct_and_boxes(photo_dict, upsample):
    """A horizontally flipped image's blocks mirror: block order reversed, coefficient (u,v) times (-1)^v."""
    cfg = make_cfg("64", upsample)
    cfg.INPUT.DCT.DTYPE = "float32"  # the mirror identity holds to float32 rounding, not float16's
    kw = DCTDatasetMapper.from_config(cfg, is_train=True)
    plain = DCTDatasetMapper(**{**kw, "augmentations": []})(dict(photo_dict))
    flipped = DCTDatasetMapper(**{**kw, "augmentations": [T.RandomFlip(prob=1.0)]})(dict(photo_dict))
    chans = np.array(parse_channels("64"))
    sign = torch.from_numpy(np.where((chans % 8) % 2 == 1, -1.0, 1.0).astype(np.float32))[:, None, None]
    torch.testing.assert_close(flipped["image"].flip(-1) * sign, plain["image"], atol=2e-2, rtol=1e-4)
    w = photo_dict["width"]
    b, bf = plain["instances"].gt_boxes.tensor, flipped["instances"].gt_boxes.tensor
    torch.testing.assert_close(bf[:, [0, 2]], w - b[:, [2, 0]])
    torch.testing.assert_close(bf[:, [1, 3]], b[:, [1, 3]])
    assert torch.equal(plain["instances"].gt_classes, flipped["instances"].gt_classes)


def test_model_hands_heads_pixel_sizes(photo_dict):
    cfg = make_cfg("24", 1)
    model = build_model(cfg).eval()
    inputs = [DCTDatasetMapper(cfg, is_train=False)(dict(photo_dict))]
    h, w = inputs[0]["image_size"]
    assert (h, w) == (160, round(304 * 160 / 200))
    images = model.preprocess_image(inputs)
    assert images.image_sizes == [(h, w)]
    assert images.tensor.shape[-2] % 8 == 0 and images.tensor.shape[-1] % 8 == 0  # 64 px / 8 px cells
    assert images.tensor.shape[-2] < h // 4  # the tensor is the DCT grid, not pixels
    with torch.no_grad():
        features = model.backbone(images.tensor)
        proposals, _ = model.proposal_generator(images, features)
    boxes = proposals[0].proposal_boxes.tensor
    assert boxes[:, 2].max() <= w and boxes[:, 3].max() <= h
    # anchors cover the pixel image: proposals reach its far side, not only the grid's extent
    assert boxes[:, 2].max() > 0.9 * w and boxes[:, 3].max() > 0.9 * h


def test_gt_boxes_come_back_in_original_coordinates(photo_dict):
    """Feed GT boxes (augmented pixel space) as detections; outputs are in original-image pixels."""
    cfg = make_cfg("24", 2)
    model = build_model(cfg).eval()
    inp = DCTDatasetMapper(cfg, is_train=False)(dict(photo_dict))
    h, w = inp["image_size"]
    scale = torch.tensor([w / photo_dict["width"], h / photo_dict["height"]]).repeat(2)  # per axis
    gt = torch.tensor([a["bbox"] for a in photo_dict["annotations"]])
    det = Instances((h, w), pred_boxes=Boxes(gt * scale), pred_classes=torch.tensor([0, 2]), scores=torch.ones(2))
    with torch.no_grad():
        out = model.inference([inp], detected_instances=[det])[0]["instances"]
    assert out.image_size == (200, 304)
    torch.testing.assert_close(out.pred_boxes.tensor, gt, atol=1e-3, rtol=1e-4)
    assert out.pred_masks.shape == (2, 200, 304)


def test_statistics_length_is_checked():
    cfg = make_cfg("24", 2)
    cfg.MODEL.PIXEL_MEAN = [103.5, 116.3, 123.7]
    with pytest.raises(ValueError, match="MODEL.PIXEL_MEAN has 3 values .* selects 24"):
        build_model(cfg)


def test_stats_file_feeds_model(tmp_path):
    from freqdet.core.stats import save_dct_stats

    path = tmp_path / "stats.json"
    save_dct_stats(str(path), "192", np.arange(192.0), np.arange(192.0) + 1)
    cfg = make_cfg("24T", 2)
    cfg.MODEL.PIXEL_STATS_FILE = str(path)
    model = build_model(cfg)
    chans = parse_channels("24T")
    assert model.pixel_mean.flatten().tolist() == [float(c) for c in chans]
    assert model.pixel_std.flatten().tolist() == [float(c + 1) for c in chans]
    assert model.backbone.bottom_up.res2[0].conv1.weight.shape[1] == 24  # not len(PIXEL_MEAN) == 3
    save_dct_stats(str(path), "6", np.zeros(6), np.ones(6))
    with pytest.raises(ValueError, match="lacks mean for channels"):
        build_model(cfg)


@pytest.mark.parametrize("upsample", [1, 2])
def test_on_device_mapper_hands_detectron2s_image(photo_dict, upsample):
    """INPUT.DCT.ON_DEVICE: the mapper's output is Detectron2's DatasetMapper's, plus image_size."""
    from detectron2.data import DatasetMapper

    cfg = make_cfg("24", upsample)
    cfg.INPUT.DCT.ON_DEVICE = True
    np.random.seed(3)
    ours = DCTDatasetMapper(cfg, is_train=True)(dict(photo_dict))
    np.random.seed(3)
    rgb = DatasetMapper(cfg, is_train=True)(dict(photo_dict))
    assert ours["image"].dtype == torch.uint8 and torch.equal(ours["image"], rgb["image"])
    assert ours["image_size"] == tuple(rgb["image"].shape[1:])
    torch.testing.assert_close(ours["instances"].gt_boxes.tensor, rgb["instances"].gt_boxes.tensor)


@pytest.mark.parametrize("upsample", [1, 2])
def test_on_device_model_equals_loader_dct(photo_dict, upsample):
    """The same weights give the same normalized input and detections with the DCT computed in the
    loader (float32) or in the model from Detectron2's uint8 image."""
    cfg = make_cfg("24", upsample)
    cfg.INPUT.DCT.DTYPE = "float32"
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    cfg_dev = cfg.clone()
    cfg_dev.INPUT.DCT.ON_DEVICE = True
    model_dev = build_model(cfg_dev).eval()
    model_dev.load_state_dict(model.state_dict())  # the DCT filters are not in the state dict
    inp = DCTDatasetMapper(cfg, is_train=False)(dict(photo_dict))
    inp_dev = DCTDatasetMapper(cfg_dev, is_train=False)(dict(photo_dict))
    assert inp_dev["image"].shape[0] == 3
    a, b = model.preprocess_image([inp]), model_dev.preprocess_image([inp_dev])
    assert a.image_sizes == b.image_sizes
    torch.testing.assert_close(b.tensor, a.tensor, atol=1e-4, rtol=1e-4)  # coefficients / std 20
    with torch.no_grad():
        out, out_dev = model([inp])[0]["instances"], model_dev([inp_dev])[0]["instances"]
    torch.testing.assert_close(out_dev.pred_boxes.tensor, out.pred_boxes.tensor, atol=1e-2, rtol=1e-3)
    with pytest.raises(ValueError, match="ON_DEVICE expects"):
        model_dev.preprocess_image([inp])


@pytest.mark.parametrize("on_device, from_source", [(False, False), (True, False), (False, True)])
def test_build_test_input_is_the_test_mappers(photo_dict, on_device, from_source):
    """Predictor, export and show_input build one image's input as the test loader does from its file
    (with FROM_SOURCE too: the DCT of the source resized straight to s x the test size)."""
    from freqdet.detection.inference import build_test_input
    from freqdet.detection.mapper import read_image

    cfg = make_cfg("24", 2)
    cfg.INPUT.DCT.ON_DEVICE, cfg.INPUT.DCT.FROM_SOURCE = on_device, from_source
    mapper = DCTDatasetMapper(cfg, is_train=False)
    ref = mapper(dict(photo_dict))
    image = read_image(photo_dict["file_name"], cfg.INPUT.FORMAT)
    x = build_test_input(mapper, image)
    assert x["image_size"] == ref["image_size"] == (160, round(304 * 160 / 200))
    assert (x["height"], x["width"]) == (ref["height"], ref["width"]) == (200, 304)
    assert x["image"].dtype == ref["image"].dtype and torch.equal(x["image"], ref["image"])
    if from_source:  # not the DCT of the upsampled resized image
        aug = T.AugInput(image)
        mapper.augmentations(aug)
        assert not torch.allclose(mapper.image_to_input(aug.image), x["image"], atol=1.0)
