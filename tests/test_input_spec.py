"""InputSpec: one validated description of the DCT input, and what follows from it checked against
what the mapper and the backbone actually produce."""
import dataclasses

import cv2
import numpy as np
import pytest
from detectron2.layers import ShapeSpec
from detectron2.modeling import build_backbone

from freqdet.core import image_to_dct, parse_channels
from freqdet.core.input_spec import InputSpec, InputSpecError
from freqdet.detection.config import fpn_feature_opts, input_spec
from freqdet.detection.mapper import DCTDatasetMapper
from test_detection_model import make_cfg


def test_channels_are_normalized_once():
    spec = InputSpec("24T", 1)
    assert spec.channels == tuple(parse_channels("24T")) and isinstance(spec.channels, tuple)
    assert spec.num_channels == 24
    # the same subset however it is written: equal and hashable (usable as a cache key)
    assert InputSpec(list(parse_channels("24T")), 1) == spec and len({spec, InputSpec("24t", 1)}) == 1
    assert InputSpec("24", 1) != spec


@pytest.mark.parametrize("s, stride, levels", [(2, 4, ["p2", "p3", "p4", "p5", "p6"]),
                                               (1, 8, ["p3", "p4", "p5", "p6", "p7"])])
def test_stride_and_level_names(s, stride, levels):
    spec = InputSpec("6", s)
    assert spec.stride == stride and spec.fpn_level_names == levels


@pytest.mark.parametrize("s", [1, 2])
def test_level_names_are_the_backbones(s):
    """The names the spec derives are exactly the FPN outputs the DCT backbone builds."""
    cfg = make_cfg("6", s)
    spec = input_spec(cfg)
    backbone = build_backbone(cfg, ShapeSpec(channels=spec.num_channels))
    shapes = backbone.output_shape()
    assert list(shapes) == spec.fpn_level_names
    assert shapes[spec.fpn_level_names[0]].stride == spec.stride
    assert backbone.bottom_up.stem.stride == spec.stride


@pytest.mark.parametrize("s", [1, 2])
@pytest.mark.parametrize("hw", [(8, 8), (61, 83), (427, 640)])
def test_grid_size_is_image_to_dcts(s, hw):
    image = np.zeros((*hw, 3), np.uint8)
    spec = InputSpec("6", s)
    assert image_to_dct(image, spec.channels, s).shape[1:] == spec.grid_size(*hw)


@pytest.mark.parametrize("s", [1, 2])
@pytest.mark.parametrize("dtype, on_device", [("float32", False), ("float16", False), ("float32", True)])
def test_bytes_per_image_is_what_the_mapper_hands_over(tmp_path, china, s, dtype, on_device):
    path = tmp_path / "china.jpg"
    cv2.imwrite(str(path), china[:, :, ::-1])
    cfg = make_cfg("24", s)
    cfg.INPUT.DCT.DTYPE, cfg.INPUT.DCT.ON_DEVICE = dtype, on_device
    spec = input_spec(cfg)
    out = DCTDatasetMapper(cfg, is_train=False)({"file_name": str(path), "height": 427, "width": 640})
    assert out["image"].numel() * out["image"].element_size() == spec.bytes_per_image(*out["image_size"])
    assert out["image"].numpy().dtype == (np.uint8 if on_device else spec.numpy_dtype)
    if not on_device:
        assert tuple(out["image"].shape) == (24, *spec.grid_size(*out["image_size"]))


def test_bytes_per_image_ratios():
    h, w = 800, 1216  # multiples of 8: grid cells are exact
    rgb = 3 * h * w
    assert InputSpec("24", 2, on_device=True).bytes_per_image(h, w) == rgb
    # DCT-24 at s=2: 24 values per 4x4 pixels, i.e. 1.5 per pixel (RGB: 3 bytes per pixel)
    assert InputSpec("24", 2, "float32").bytes_per_image(h, w) == 24 * (h // 4) * (w // 4) * 4 == 2 * rgb
    assert InputSpec("24", 2, "float16").bytes_per_image(h, w) == rgb
    assert InputSpec("24", 1, "float16").bytes_per_image(h, w) * 4 == rgb


@pytest.mark.parametrize("kwargs, message", [
    (dict(upsample=True), r"upsample must be 1 or 2 .*got True"),  # True == 1, but is not a factor
    (dict(upsample=3), r"upsample must be 1 or 2 .*got 3"),
    (dict(upsample="2"), r"upsample must be 1 or 2 .*got '2'"),
    (dict(dtype="float64"), r"dtype must be one of \['float16', 'float32'\], got 'float64'"),
    (dict(channels="25"), r"channels: unknown channel subset '25'"),
    (dict(channels=[0, 0]), r"channels: .*index 0 appears twice"),
    (dict(on_device="False"), r"on_device must be True or False, got 'False'"),
    (dict(on_device=True, from_source=True), r"from_source needs the loader-side DCT: set on_device False"),
])
def test_invalid_fields(kwargs, message):
    with pytest.raises(InputSpecError, match=message):
        InputSpec(**kwargs)


def test_config_channels_forms():
    cfg = make_cfg("24", 2)
    for value in (["24"], "24", list(parse_channels("24"))):
        cfg.INPUT.DCT.CHANNELS = value
        assert input_spec(cfg).channels == tuple(parse_channels("24"))


def test_frozen_and_replace_revalidates():
    spec = InputSpec("24", 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.upsample = 1
    assert dataclasses.replace(spec, upsample=1).stride == 8
    with pytest.raises(InputSpecError, match="from_source"):
        dataclasses.replace(spec, on_device=True, from_source=True)


@pytest.mark.parametrize("s", [1, 2])
def test_fpn_feature_opts_merge_into_a_config(s):
    cfg = make_cfg("24", 2 if s == 1 else 1)  # start from the other s's level names
    cfg.INPUT.DCT.UPSAMPLE = s
    cfg.merge_from_list(fpn_feature_opts(s))
    levels = InputSpec(upsample=s).fpn_level_names
    assert cfg.MODEL.RPN.IN_FEATURES == levels and cfg.MODEL.ROI_HEADS.IN_FEATURES == levels[:4]
