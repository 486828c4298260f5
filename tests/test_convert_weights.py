"""Checkpoint conversion: torchvision / Detectron2 / DCT-classifier ResNet-50 -> DCT backbone."""
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
import torchvision
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.layers import ShapeSpec
from detectron2.modeling import build_model
from detectron2.modeling.backbone import build_resnet_backbone

from freqdet.detection.weights import convert_to_dct_backbone, load_state_dict
from test_detection_model import make_cfg


def run_cli(*args):
    subprocess.run([sys.executable, "tools/convert_weights.py", *map(str, args)], check=True, capture_output=True)


def load_into_model(pkl, channels):
    model = build_model(make_cfg(channels, 2, mask=False))
    DetectionCheckpointer(model).load(str(pkl))
    return model.backbone.bottom_up


@pytest.fixture(scope="module")
def tv_resnet():
    torch.manual_seed(0)
    return torchvision.models.resnet50().state_dict()


def test_torchvision_rgb_to_dct24(tmp_path, tv_resnet):
    src, out = tmp_path / "resnet50.pth", tmp_path / "dct24.pkl"
    torch.save(tv_resnet, src)
    run_cli(src, "--channels", "24", "--output", out)
    with open(out, "rb") as f:
        data = pickle.load(f)
    assert data["matching_heuristics"] and not any(k.startswith(("stem.", "fc.")) for k in data["model"])
    net = load_into_model(out, "24")
    np.testing.assert_array_equal(net.res2[0].conv1.weight.detach().numpy(), tv_resnet["layer1.0.conv1.weight"][:, :24].numpy())
    np.testing.assert_array_equal(net.res2[0].shortcut.weight.detach().numpy(),
                                  tv_resnet["layer1.0.downsample.0.weight"][:, :24].numpy())
    np.testing.assert_array_equal(net.res4[5].conv3.weight.detach().numpy(), tv_resnet["layer3.5.conv3.weight"].numpy())
    np.testing.assert_array_equal(net.res5[0].shortcut.norm.running_var.numpy(),
                                  tv_resnet["layer4.0.downsample.1.running_var"].numpy())
    np.testing.assert_array_equal(net.res3[1].conv2.norm.weight.numpy(), tv_resnet["layer2.1.bn2.weight"].numpy())


def test_more_than_64_channels_get_fresh_first_convs(tv_resnet):
    weights, notes = convert_to_dct_backbone({k: v.numpy() for k, v in tv_resnet.items()}, 192)
    assert "res2.0.conv1.weight" not in weights and "res2.0.shortcut.weight" not in weights
    assert "res2.0.conv2.weight" in weights and any("192 > 64" in n for n in notes)
    same, _ = convert_to_dct_backbone({k: v.numpy() for k, v in tv_resnet.items()}, 64)
    np.testing.assert_array_equal(same["res2.0.conv1.weight"], tv_resnet["layer1.0.conv1.weight"].numpy())


def test_detectron2_pkl_naming(tmp_path):
    cfg = make_cfg("24", 2)
    cfg.MODEL.RESNETS.OUT_FEATURES = ["res5"]
    d2 = build_resnet_backbone(cfg, ShapeSpec(channels=3))
    src, out = tmp_path / "R-50.pkl", tmp_path / "dct6.pkl"
    with open(src, "wb") as f:
        pickle.dump({"model": {k: v.numpy() for k, v in d2.state_dict().items()}, "__author__": "test"}, f)
    run_cli(src, "--channels", "6", "--output", out)
    net = load_into_model(out, "6")
    np.testing.assert_array_equal(net.res2[0].conv1.weight.detach().numpy(), d2.res2[0].conv1.weight[:, :6].detach().numpy())
    np.testing.assert_array_equal(net.res4[2].conv2.weight.detach().numpy(), d2.res4[2].conv2.weight.detach().numpy())


def dct_classifier_state(channels):
    """A DCT ResNet-50 classifier as the classification issue defines it (torchvision, stem removed)."""
    try:
        from freqdet.classification import resnet50_dct

        return resnet50_dct(channels=channels).state_dict()
    except ImportError:
        net = torchvision.models.resnet50()
        del net.conv1, net.bn1
        net.layer1[0].conv1 = torch.nn.Conv2d(channels, 64, 1, bias=False)
        net.layer1[0].downsample[0] = torch.nn.Conv2d(channels, 256, 1, bias=False)
        return net.state_dict()


def test_dct_classifier_checkpoint(tmp_path):
    state = dct_classifier_state(24)
    src, out = tmp_path / "cls.pth", tmp_path / "det.pkl"
    torch.save({"model": state, "epoch": 3}, src)
    run_cli(src, "--channels", "24", "--output", out)
    net = load_into_model(out, "24")
    np.testing.assert_array_equal(net.res2[0].conv1.weight.detach().numpy(), state["layer1.0.conv1.weight"].numpy())
    np.testing.assert_array_equal(net.res5[2].conv3.weight.detach().numpy(), state["layer4.2.conv3.weight"].numpy())
    with pytest.raises(ValueError, match="takes 24 DCT channels but the target has 64"):
        convert_to_dct_backbone(load_state_dict(str(src)), 64, source=str(src))


def test_bad_checkpoint_names_file(tmp_path):
    bad = tmp_path / "bad.pth"
    torch.save({"model": {"encoder.weight": torch.zeros(2)}}, bad)
    with pytest.raises(ValueError, match="unexpected key 'encoder.weight'"):
        convert_to_dct_backbone(load_state_dict(str(bad)), 24, source=str(bad))
