"""Checkpoint conversion: torchvision / Detectron2 / DCT-classifier ResNet-50 -> DCT backbone."""
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.layers import ShapeSpec
from detectron2.modeling import build_model
from detectron2.modeling.backbone import build_resnet_backbone

from freqdet.classification import resnet50_dct
from freqdet.core import parse_channels
from freqdet.detection.weights import convert_to_dct_backbone, load_state_dict, save_detectron2_pkl
from test_detection_model import make_cfg

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args):
    """tools/convert_weights.py end to end, as the configs' comments tell a user to run it."""
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "convert_weights.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def convert(src, channels, out):
    """What the tool does, through the package functions."""
    weights, _ = convert_to_dct_backbone(load_state_dict(str(src)), len(parse_channels(channels)), source=str(src))
    save_detectron2_pkl(weights, str(out))


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
    printed = run_cli(src, "--channels", "24", "--output", out)
    assert f"wrote {out}" in printed and "kept the first 24 of 64 input channels" in printed
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
    convert(src, "6", out)
    net = load_into_model(out, "6")
    np.testing.assert_array_equal(net.res2[0].conv1.weight.detach().numpy(), d2.res2[0].conv1.weight[:, :6].detach().numpy())
    np.testing.assert_array_equal(net.res4[2].conv2.weight.detach().numpy(), d2.res4[2].conv2.weight.detach().numpy())


def test_dct_classifier_checkpoint(tmp_path):
    state = resnet50_dct(channels="24").state_dict()  # torchvision names, no RGB stem
    src, out = tmp_path / "cls.pth", tmp_path / "det.pkl"
    torch.save({"model": state, "epoch": 3}, src)
    convert(src, "24", out)
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


def test_paper_released_classifier_checkpoint(tmp_path, tv_resnet):
    """The paper's ResNetDCT_Upscaled_Static: layer1..4 as model.0..3 (torchvision names inside), res2's first
    convolutions cut to 24 channels, the fc kept, under "state_dict" with DataParallel's "module." prefixes."""
    paper = {}
    for k, v in tv_resnet.items():
        if k.startswith("layer"):
            v = v[:, :24] if k in ("layer1.0.conv1.weight", "layer1.0.downsample.0.weight") else v
            paper[f"module.model.{int(k[5]) - 1}{k[6:]}"] = v
        elif k.startswith("fc."):
            paper["module." + k] = v
    assert "module.model.0.0.bn1.running_mean" in paper and "module.model.3.2.conv3.weight" in paper
    src, out = tmp_path / "model_best.pth.tar", tmp_path / "det.pkl"
    torch.save({"epoch": 90, "arch": "ResNetDCT_Upscaled_Static", "state_dict": paper, "best_prec1": 0.0}, src)
    weights = load_state_dict(str(src))
    assert "model.0.0.downsample.0.weight" in weights
    convert(src, "24", out)
    net = load_into_model(out, "24")
    np.testing.assert_array_equal(net.res2[0].conv1.weight.detach().numpy(), tv_resnet["layer1.0.conv1.weight"][:, :24].numpy())
    np.testing.assert_array_equal(net.res2[0].shortcut.weight.detach().numpy(),
                                  tv_resnet["layer1.0.downsample.0.weight"][:, :24].numpy())
    np.testing.assert_array_equal(net.res2[0].conv1.norm.running_mean.numpy(), tv_resnet["layer1.0.bn1.running_mean"].numpy())
    np.testing.assert_array_equal(net.res5[2].conv3.weight.detach().numpy(), tv_resnet["layer4.2.conv3.weight"].numpy())
    np.testing.assert_array_equal(net.res3[0].shortcut.norm.weight.numpy(), tv_resnet["layer2.0.downsample.1.weight"].numpy())
    converted, _ = convert_to_dct_backbone(weights, 24)
    assert not any(k.startswith(("fc.", "model.")) for k in converted)


def test_trained_classifier_with_a_learned_stem_becomes_the_detector_stem(tmp_path):
    """tools/train_classifier.py saves the network under "net." with a learned stem as "dct_stem.": the
    converter hands both to a detector with that stem (BatchNorm statistics into FrozenBN), res2 unchanged."""
    torch.manual_seed(0)
    state = resnet50_dct(channels="24", stem="conv").state_dict()
    state["dct_stem.norm1.running_mean"].uniform_(-1, 1)  # trained statistics, not the defaults
    src, out = tmp_path / "model_final.pth", tmp_path / "det.pkl"
    torch.save({"model": {"net." + k: v for k, v in state.items()}, "meta": {"arch": "resnet50_dct"}}, src)
    weights, notes = convert_to_dct_backbone(load_state_dict(str(src)), 24, source=str(src))
    assert any("kept the learned DCT stem" in n for n in notes)
    save_detectron2_pkl(weights, str(out))
    cfg = make_cfg("24", 2, mask=False)
    cfg.merge_from_list(["MODEL.DCT_STEM.NAME", "conv", "MODEL.BACKBONE.FREEZE_AT", 0])
    net = build_model(cfg).backbone.bottom_up
    DetectionCheckpointer(net, save_dir=str(tmp_path)).load(str(out))
    for name in ("conv1.weight", "norm1.running_mean", "norm1.weight"):
        np.testing.assert_array_equal(net.stem.body.state_dict()[name].numpy(), state[f"dct_stem.{name}"].numpy())
    np.testing.assert_array_equal(net.res2[0].conv1.weight.detach().numpy(), state["layer1.0.conv1.weight"].numpy())
    assert net.res2[0].conv1.weight.shape[1] == 64  # RGB's res2: the stem's width
