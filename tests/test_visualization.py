"""Pictures, checked by what they show: what the network sees (dct_to_image at pixel size, FreqRCNN's
VIS_PERIOD pictures, tools/show_input.py) and the per-channel heat maps."""
import numpy as np
import pytest
import torch
from detectron2.modeling import build_model
from detectron2.utils.events import EventStorage

from freqdet.core import dct_to_image, image_to_dct
from freqdet.core.plots import plot_channel_grids
from freqdet.detection.mapper import DCTDatasetMapper
from test_detection_model import make_cfg, photo_dict  # noqa: F401  (fixture)


@pytest.mark.parametrize("upsample", [1, 2])
def test_dct_to_image_at_pixel_size(china, upsample):
    img = china[:203, :301]  # not multiples of 8
    full = dct_to_image(image_to_dct(img, "192", upsample, input_format="RGB"), "192", "RGB", upsample, img.shape[:2])
    assert full.shape == img.shape
    err = np.abs(full.astype(int) - img)
    # s=1: the exact inverse up to rounding; s=2: bilinear x2 then 2x2 area mean, not the identity
    assert err.max() <= (1 if upsample == 1 else 80) and err.mean() < (0.6 if upsample == 1 else 4)
    low = dct_to_image(image_to_dct(img, "6", upsample, input_format="RGB"), "6", "RGB", upsample, img.shape[:2])
    assert np.abs(low.astype(int) - img).mean() > 1.5 * err.mean() + 1  # 6 channels: visibly low-pass
    with pytest.raises(ValueError, match="exceeds the DCT grid"):
        dct_to_image(image_to_dct(img, "6", upsample, input_format="RGB"), "6", "RGB", upsample, (300, 301))


def _one_input(cfg, photo_dict, on_device):
    cfg = cfg.clone()
    cfg.INPUT.DCT.ON_DEVICE = on_device
    cfg.INPUT.RANDOM_FLIP = "none"
    cfg.INPUT.MIN_SIZE_TRAIN = (160,)
    return cfg, DCTDatasetMapper(cfg, is_train=True)(dict(photo_dict))


@pytest.mark.parametrize("upsample", [1, 2])
def test_vis_period_draws_the_dct_input(photo_dict, upsample):  # noqa: F811
    """VIS_PERIOD 1: one training step puts Detectron2's GT | proposals picture in the
    EventStorage, and its image is the low-pass reconstruction of the DCT input, the same with
    the loader's DCT (float16) and with on-device DCT."""
    base = make_cfg("24", upsample)
    base.VIS_PERIOD = 1
    cfg_dev, inp_dev = _one_input(base, photo_dict, on_device=True)
    cfg_cpu, inp_cpu = _one_input(base, photo_dict, on_device=False)
    h, w = inp_cpu["image_size"]
    bgr = inp_dev["image"].permute(1, 2, 0).numpy()  # Detectron2's uint8 image (INPUT.FORMAT BGR)
    expected = dct_to_image(image_to_dct(bgr, "24", upsample, input_format="BGR"), "24", "BGR", upsample, (h, w))
    model_dev, model_cpu = build_model(cfg_dev), build_model(cfg_cpu)
    for model, inp in ((model_dev, inp_dev), (model_cpu, inp_cpu)):
        seen = model.input_as_image(inp).permute(1, 2, 0).numpy()
        diff = np.abs(seen.astype(int) - expected)
        assert seen.shape == (h, w, 3) and diff.max() <= 2 and diff.mean() < 0.1
    assert np.abs(expected.astype(int) - bgr).mean() > 1  # DCT-24 is low-pass, not the image itself

    model_cpu.train()
    with EventStorage(0) as storage:
        losses = model_cpu([inp_cpu])
    assert all(torch.isfinite(v) for v in losses.values())
    pictures = {name: (p, it) for name, p, it in storage._vis_data}  # the mask head adds its own
    picture, it = pictures["Left: GT bounding boxes;  Right: Predicted proposals"]
    assert it == 0
    assert picture.shape == (3, h, 2 * w) and picture.dtype == np.uint8
    left = picture[:, :, :w].transpose(1, 2, 0).astype(int)  # RGB, GT boxes drawn on it
    rgb = expected[..., ::-1].astype(int)
    drawn = np.abs(left - rgb).max(axis=2) > 8  # pixels the boxes/labels changed
    assert 0.001 < drawn.mean() < 0.3  # some box outlines, most of the picture untouched
    assert np.abs(left - rgb)[~drawn].mean() < 1.0


def test_show_input_tool_writes_image_beside_network_view(tmp_path, china):
    import os
    import subprocess
    import sys

    import cv2

    src, out = tmp_path / "china.jpg", tmp_path / "view.png"
    cv2.imwrite(str(src), cv2.cvtColor(china, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, os.path.join(repo, "tools", "show_input.py"), "--config-file",
                           os.path.join(repo, "configs", "Demo", "mask_rcnn_dct24_R_50_FPN_demo.yaml"),
                           "--input", str(src), "--output", str(out), "--opts", "INPUT.MIN_SIZE_TEST", "200",
                           "INPUT.MAX_SIZE_TEST", "400"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    picture = cv2.imread(str(out))[:, :, ::-1]
    h, w = 200, round(640 * 200 / 427)  # the demo config's test resize, overridden
    assert picture.shape == (28 + h, 2 * w + 8, 3)
    left, right = picture[28:, :w].astype(int), picture[28:, w + 8:].astype(int)
    from detectron2.data import transforms as T

    rgb = cv2.imread(str(src))[:, :, ::-1]
    resized = T.ResizeShortestEdge(200, 400).get_transform(rgb).apply_image(rgb)  # the config's test resize
    assert np.abs(left - resized).max() <= 1
    expected = dct_to_image(image_to_dct(picture[28:, :w].copy(), "24", 1, input_format="RGB"), "24", "RGB", 1, (h, w))
    assert np.abs(right - expected).max() <= 1  # the DCT-24 reconstruction of the left panel


def test_channel_grids_put_each_value_in_its_cell(tmp_path, channel_grid_cells, expected_cell_colours):
    """Cell (u, v) of panel c shows channel c*64+u*8+v on a scale over the finite values; a channel
    without a value (left out of a mapping) stays blank."""
    values = {c: float(c) for c in range(192) if c != 100}
    cells = channel_grid_cells(plot_channel_grids(values, tmp_path / "grid.png", title="index"))
    expected = expected_cell_colours("viridis", np.arange(192), 0, 191).reshape(3, 8, 8, 3)
    expected[1, 4, 4] = 1.0  # channel 100 = Cb(4,4): white background
    assert np.abs(cells - expected).max() < 3 / 255
    drops = np.linspace(-2, 1, 192)  # the spectral-sensitivity scale: symmetric, red for lost accuracy
    cells = channel_grid_cells(plot_channel_grids(drops, tmp_path / "drops.png", vmin=-2, vmax=2, cmap="RdBu_r"))
    assert np.abs(cells - expected_cell_colours("RdBu_r", drops, -2, 2).reshape(3, 8, 8, 3)).max() < 3 / 255
