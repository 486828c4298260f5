"""LazyConfig configs and tools/lazyconfig_train_net.py: same networks as the yacs configs, and
real training / resuming / evaluation on generated demo JPEGs (2 CPU processes, then 1)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from detectron2.config import instantiate
from detectron2.modeling import build_model

from freqdet import model_zoo
from freqdet.synthetic.coco_writer import generate_demo_dataset

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = "Demo/mask_rcnn_dct24_R_50_FPN_demo"


def state_shapes(model):
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", [
    DEMO, "COCO-InstanceSegmentation/mask_rcnn_dct24_R_50_FPN_1x",
    "COCO-InstanceSegmentation/mask_rcnn_dct24_s1_R_50_FPN_1x", "COCO-Detection/faster_rcnn_dct24_R_50_FPN_1x",
    "COCO-Detection/faster_rcnn_dct24_s1_R_50_FPN_1x", "COCO-InstanceSegmentation/mask_rcnn_dct24_conv2_R_50_FPN_1x",
    "COCO-Detection/faster_rcnn_dct24_conv2_R_50_FPN_1x",
])
def test_lazy_and_yacs_configs_build_the_same_network(name):
    lazy = model_zoo.get_config(name + ".py")
    lazy.model.pixel_mean, lazy.model.pixel_std = [0.0] * 24, [1.0] * 24  # no statistics file here
    yacs = model_zoo.get_config(name + ".yaml")
    yacs.merge_from_list(["MODEL.PIXEL_STATS_FILE", "", "MODEL.PIXEL_MEAN", [0.0] * 24, "MODEL.PIXEL_STD", [1.0] * 24,
                          "MODEL.DEVICE", "cpu"])
    a, b = instantiate(lazy.model), build_model(yacs)
    assert type(a).__name__ == type(b).__name__ == "FreqRCNN"
    assert sum(p.numel() for p in a.parameters()) == sum(p.numel() for p in b.parameters())
    assert state_shapes(a) == state_shapes(b)  # same modules under the same names: checkpoints interchange
    assert a.backbone.output_shape() == b.backbone.output_shape()
    assert (a.input_spec.channels, a.input_spec.upsample) == (b.input_spec.channels, b.input_spec.upsample)
    frozen = lambda m: sorted(n for n, p in m.named_parameters() if not p.requires_grad)
    assert frozen(a) == frozen(b)  # FREEZE_AT: a learned stem trains in both
    assert lazy.train.init_checkpoint == yacs.MODEL.WEIGHTS


# The image-size overrides the README shows (Hydra's spelling: list items by ".0", lists in brackets without spaces).
SIZES = ["dataloader.train.mapper.augmentations.0.short_edge_length=[512,576,640]",
         "dataloader.train.mapper.augmentations.0.max_size=1066",
         "dataloader.test.mapper.augmentations.0.short_edge_length=640",
         "dataloader.test.mapper.augmentations.0.max_size=1066"]


def test_documented_image_size_overrides_work(china):
    """The README's override of a LazyConfig's image sizes parses and reaches both mappers."""
    from detectron2.data import transforms as T

    from freqdet.detection.inference import build_test_input
    from freqdet.detection.tool_config import load_tool_config

    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    assert all(o in readme for o in SIZES)
    tc = load_tool_config(os.path.join(REPO, "configs", "COCO-InstanceSegmentation", "mask_rcnn_dct24_R_50_FPN_1x.py"),
                          SIZES)
    image = china[:, :, ::-1]  # 427x640, BGR as the config reads
    test = build_test_input(tc.build_mapper(is_train=False), image)
    assert test["image_size"] == (640, 959) and test["image"].shape == (24, 160, 240)  # s=2: grid h*2/8
    train = tc.build_mapper(is_train=True)
    shorts = set()
    for _ in range(30):
        aug = T.AugInput(image)
        train.augmentations(aug)
        h, w = aug.image.shape[:2]
        assert max(h, w) <= 1066
        shorts.add(min(h, w))
    assert shorts == {512, 576, 640}


# The training sizes of every run here, also those the statistics are measured with (a statistics file
# records the training augmentation, and a run with other sizes refuses it).
TRAIN_SIZES = ["dataloader.train.mapper.augmentations.0.short_edge_length=[128,160]",  # as the README writes them
               "dataloader.train.mapper.augmentations.0.max_size=160"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    base = tmp_path_factory.mktemp("data")
    generate_demo_dataset(base / "demo", num_train=4, num_val=2, image_size=128, seed=1)
    env = {**os.environ, "FREQDET_DATASETS": str(base), "PYTHONWARNINGS": "ignore"}
    stats = base / "stats.json"
    run(["tools/compute_dct_stats.py", "--config-file", "configs/" + DEMO + ".py", "--output", stats, *TRAIN_SIZES], env)
    return {"env": env, "stats": stats}


def run(args, env):
    proc = subprocess.run([sys.executable, *map(str, args)], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc.stdout + proc.stderr


def lazy_train(tiny, out, *extra):
    small = [
        "dataloader.train.total_batch_size=2", "dataloader.train.num_workers=0", "dataloader.test.num_workers=0",
        f"model.pixel_mean.path={tiny['stats']}", f"train.output_dir={out}",
        "model.roi_heads.batch_size_per_image=16", "model.proposal_generator.batch_size_per_image=32",
        "model.proposal_generator.post_nms_topk=[64,32]", "train.log_period=1",
        *TRAIN_SIZES, "dataloader.test.mapper.augmentations.0.max_size=160",
    ]
    return run(["tools/lazyconfig_train_net.py", "--config-file", "configs/" + DEMO + ".py", "--dist-url", "auto", *extra, *small],
               tiny["env"])


def iterations(out):
    with open(os.path.join(out, "metrics.json")) as f:
        return [r["iteration"] for r in map(json.loads, f) if "total_loss" in r and np.isfinite(r["total_loss"])]


def test_lazyconfig_train_resume_and_eval(tiny, tmp_path):
    log = lazy_train(tiny, tmp_path, "--num-gpus", "2", "train.max_iter=2")
    assert "World size: 2" in log
    assert iterations(tmp_path) == [0, 1] and (tmp_path / "model_final.pth").is_file()
    assert (tmp_path / "config.yaml").is_file()  # default_setup saved the LazyConfig
    lazy_train(tiny, tmp_path, "--resume", "train.max_iter=3")  # continues at iteration 2
    assert iterations(tmp_path) == [0, 1, 2]
    log = lazy_train(tiny, tmp_path / "eval", "--eval-only", f"train.init_checkpoint={tmp_path / 'model_final.pth'}",
                     "model.roi_heads.box_predictor.test_score_thresh=0.0")
    assert "Evaluation results for bbox" in log and "Evaluation results for segm" in log
