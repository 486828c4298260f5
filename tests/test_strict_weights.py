"""Weights whose tensors do not fit the model are refused with the list of those tensors
(freqdet.engine.checkpoint.SafeCheckpointer), where Detectron2 logs "Skip loading parameter" and
goes on with a partly random model; MODEL.WEIGHTS_PARTIAL / allow_partial loads the rest. Missing
heads (a converted backbone .pkl) are no error. Real files: a checkpoint written by freqdet's yacs
Trainer after one CPU iteration, a torchvision ResNet-50 converted by freqdet.detection.weights."""
import os
import subprocess
import sys

import pytest
import torch
import torchvision
from detectron2.modeling import build_model

from freqdet.detection.config import load_config
from freqdet.detection.tool_config import load_tool_config, register_datasets
from freqdet.detection.trainer import Trainer
from freqdet.detection.weights import convert_to_dct_backbone, load_state_dict, save_detectron2_pkl
from freqdet.engine.checkpoint import SafeCheckpointer, WeightsShapeError
from freqdet.synthetic.coco_writer import generate_demo_dataset

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(REPO, "configs", "Demo", "mask_rcnn_dct24_R_50_FPN_demo.yaml")
SMALL = ["MODEL.PIXEL_STATS_FILE", "", "MODEL.PIXEL_MEAN", [0.0] * 24, "MODEL.PIXEL_STD", [20.0] * 24,
         "INPUT.MIN_SIZE_TRAIN", (128,), "INPUT.MAX_SIZE_TRAIN", 128, "INPUT.MIN_SIZE_TEST", 128,
         "INPUT.MAX_SIZE_TEST", 128, "SOLVER.IMS_PER_BATCH", 2, "DATALOADER.NUM_WORKERS", 0,
         "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", 16, "MODEL.RPN.BATCH_SIZE_PER_IMAGE", 32]
HEADS = {f"roi_heads.{m}.{p}" for m in ("box_predictor.cls_score", "box_predictor.bbox_pred", "mask_head.predictor")
         for p in ("weight", "bias")}


def demo_cfg(*opts):
    return load_config(DEMO, [*SMALL, *opts])


@pytest.fixture(scope="module")
def yacs_checkpoint(tmp_path_factory):
    """model_final.pth of the 5-class demo config after one real training iteration (freqdet's Trainer)."""
    base = tmp_path_factory.mktemp("strict")
    paths = generate_demo_dataset(base / "data", num_train=2, num_val=1, image_size=128, seed=3)
    register_datasets([f"strict_train={paths['train']['json_file']}:{paths['train']['image_root']}"])
    cfg = demo_cfg("DATASETS.TRAIN", ("strict_train",), "DATASETS.TEST", (), "SOLVER.MAX_ITER", 1,
                   "OUTPUT_DIR", str(base / "out"))
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    return {"path": str(base / "out" / "model_final.pth"), "images": paths["val"]["image_root"]}


def saved_model(path):
    return torch.load(path, weights_only=True)["model"]


def test_other_class_count_is_refused_naming_the_tensors(yacs_checkpoint):
    model = build_model(demo_cfg("MODEL.ROI_HEADS.NUM_CLASSES", 3))
    with pytest.raises(WeightsShapeError) as e:
        SafeCheckpointer(model).load(yacs_checkpoint["path"])
    assert {k for k, _, _ in e.value.mismatched} == HEADS
    msg = str(e.value)
    assert yacs_checkpoint["path"] in msg and "MODEL.WEIGHTS_PARTIAL True" in msg
    assert "roi_heads.box_predictor.cls_score.weight: (6, 1024) in the file, (4, 1024) in the model" in msg


def test_partial_load_through_the_config_key(yacs_checkpoint):
    """MODEL.WEIGHTS_PARTIAL True: every tensor that fits is loaded, the mismatched heads keep their init."""
    tc = load_tool_config(DEMO, [*map(str, SMALL), "MODEL.ROI_HEADS.NUM_CLASSES", "3",
                                 "MODEL.WEIGHTS", yacs_checkpoint["path"], "MODEL.WEIGHTS_PARTIAL", "True"])
    state, saved = tc.build_model().state_dict(), saved_model(yacs_checkpoint["path"])
    fitting = [k for k in saved if k in state and state[k].shape == saved[k].shape]
    assert set(saved) - set(fitting) == HEADS  # all but the heads fit
    for k in fitting:
        torch.testing.assert_close(state[k], saved[k].to(state[k].dtype), msg=k)


def test_same_classes_load_strictly(yacs_checkpoint):
    tc = load_tool_config(DEMO, [*map(str, SMALL), "MODEL.WEIGHTS", yacs_checkpoint["path"]])
    state, saved = tc.build_model().state_dict(), saved_model(yacs_checkpoint["path"])
    for k in HEADS:
        torch.testing.assert_close(state[k], saved[k])


def test_demo_tool_stops_on_another_class_count(yacs_checkpoint, tmp_path):
    proc = subprocess.run([sys.executable, "tools/demo.py", "--config-file", DEMO, "--input", yacs_checkpoint["images"],
                           "--output", str(tmp_path / "pred.png"), *map(str, SMALL), "MODEL.ROI_HEADS.NUM_CLASSES", "3",
                           "MODEL.WEIGHTS", yacs_checkpoint["path"]],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0 and not (tmp_path / "pred.png").exists()
    assert "WeightsShapeError" in proc.stderr and "roi_heads.mask_head.predictor.weight" in proc.stderr
    assert "MODEL.WEIGHTS_PARTIAL True" in proc.stderr


@pytest.fixture(scope="module")
def torchvision_resnet(tmp_path_factory):
    """A torchvision ResNet-50 checkpoint file, read back as tools/convert_weights.py reads it."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tv") / "resnet50.pth"
    torch.save(torchvision.models.resnet50().state_dict(), path)
    return load_state_dict(str(path))


def test_converted_backbone_without_heads_loads(torchvision_resnet, tmp_path):
    """A converted ImageNet backbone (.pkl, Detectron2's name-matching heuristics) has no FPN or heads:
    missing tensors are no error, and its res2 weights arrive."""
    weights, _ = convert_to_dct_backbone(torchvision_resnet, 24)
    save_detectron2_pkl(weights, str(tmp_path / "dct24.pkl"))
    model = build_model(demo_cfg())
    SafeCheckpointer(model).load(str(tmp_path / "dct24.pkl"))
    got = model.backbone.bottom_up.state_dict()
    for k in ("res2.0.conv1.weight", "res2.0.shortcut.weight", "res5.2.conv3.weight"):
        torch.testing.assert_close(got[k], torch.as_tensor(weights[k]), msg=k)


def test_backbone_of_other_channels_is_refused(torchvision_resnet, tmp_path):
    """A 64-channel backbone into a 24-channel model: the heuristics drop res2's first convolutions for their
    shape (Detectron2 only logs it); SafeCheckpointer names them, and allow_partial loads the rest."""
    weights, _ = convert_to_dct_backbone(torchvision_resnet, 64)
    save_detectron2_pkl(weights, str(tmp_path / "dct64.pkl"))
    model = build_model(demo_cfg())
    with pytest.raises(WeightsShapeError) as e:
        SafeCheckpointer(model).load(str(tmp_path / "dct64.pkl"))
    assert {k: (c, m) for k, c, m in e.value.mismatched} == {
        "backbone.bottom_up.res2.0.conv1.weight": ((64, 64, 1, 1), (64, 24, 1, 1)),
        "backbone.bottom_up.res2.0.shortcut.weight": ((256, 64, 1, 1), (256, 24, 1, 1)),
    }
    model = build_model(demo_cfg())
    SafeCheckpointer(model, allow_partial=True).load(str(tmp_path / "dct64.pkl"))
    res3 = model.backbone.bottom_up.state_dict()["res3.0.conv2.weight"]
    torch.testing.assert_close(res3, torch.as_tensor(weights["res3.0.conv2.weight"]))
