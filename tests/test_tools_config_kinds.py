"""Every detection tool on a LazyConfig (.py) as on its yacs twin (.yaml): compute_dct_stats, train_net
(training a .py with the LazyConfig trainer), lazyconfig_train_net (a .yaml), demo, show_input and
export_model, as subprocesses on generated JPEGs registered with --dataset (2 iterations, 128 px, CPU).
Also: the override style each kind takes, and the known harmless warnings hidden unless
FREQDET_SHOW_WARNINGS=1."""
import json
import os
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

from freqdet.core.known_warnings import KNOWN_LOG_RECORDS, KNOWN_PYTHON_WARNINGS
from freqdet.detection.tool_config import LAZY, YACS, ToolConfigError, config_kind, load_tool_config
from dataset_utils import own_coco_dataset

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = os.path.join(REPO, "configs", "Demo", "mask_rcnn_dct24_R_50_FPN_demo.py")
YAML = os.path.join(REPO, "configs", "Demo", "mask_rcnn_dct24_R_50_FPN_demo.yaml")
# The same small run in each style (the demo configs: DCT-24, s=1, GroupNorm, 5 classes, CPU).
LAZY_SMALL = [
    "train.device=cpu", "dataloader.train.total_batch_size=2", "dataloader.train.num_workers=0",
    "dataloader.test.num_workers=0", "dataloader.train.dataset.names=mine_train",
    "dataloader.test.dataset.names=mine_val",
    "dataloader.train.mapper.augmentations.0.short_edge_length=[128]",
    "dataloader.train.mapper.augmentations.0.max_size=128",
    "dataloader.test.mapper.augmentations.0.short_edge_length=128",
    "dataloader.test.mapper.augmentations.0.max_size=128",
    "model.roi_heads.batch_size_per_image=16", "model.proposal_generator.batch_size_per_image=32",
    "model.proposal_generator.post_nms_topk=[64,32]", "model.roi_heads.box_predictor.test_score_thresh=0.0",
]
YACS_SMALL = [
    "MODEL.DEVICE", "cpu", "SOLVER.IMS_PER_BATCH", "2", "DATALOADER.NUM_WORKERS", "0",
    "DATASETS.TRAIN", '("mine_train",)', "DATASETS.TEST", '("mine_val",)',
    "INPUT.MIN_SIZE_TRAIN", "(128,)", "INPUT.MAX_SIZE_TRAIN", "128", "INPUT.MIN_SIZE_TEST", "128",
    "INPUT.MAX_SIZE_TEST", "128", "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "16",
    "MODEL.RPN.BATCH_SIZE_PER_IMAGE", "32", "MODEL.RPN.POST_NMS_TOPK_TRAIN", "64",
    "MODEL.RPN.POST_NMS_TOPK_TEST", "32", "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0",
]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    base = tmp_path_factory.mktemp("kinds")
    paths, flags = own_coco_dataset(base / "mine", "mine", seed=2)
    # No PYTHONWARNINGS: the warnings filter is under test here.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONWARNINGS", "FREQDET_SHOW_WARNINGS")}
    return {"base": base, "paths": paths, "flags": flags, "env": env}


def tool(name, *args, env, check=True):
    proc = subprocess.run([sys.executable, os.path.join(REPO, "tools", name), *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc


@pytest.fixture(scope="module")
def stats(data):
    """compute_dct_stats.py on the .py and on the .yaml: one file each."""
    out = {}
    for kind, config, small in ((LAZY, PY, LAZY_SMALL), (YACS, YAML, YACS_SMALL)):
        out[kind] = data["base"] / f"stats_{kind}.json"
        tool("compute_dct_stats.py", "--config-file", config, "--dataset", data["flags"][1], "--output", out[kind],
             *small, env=data["env"])
    return out


def test_compute_dct_stats_on_both_kinds_measures_the_same(stats):
    with open(stats[LAZY]) as f, open(stats[YACS]) as g:
        lazy, yacs = json.load(f), json.load(g)
    assert lazy["dataset"] == yacs["dataset"] == "mine_train" and lazy["num_images"] == 4 and lazy["upsample"] == 1
    assert lazy["channels"] == list(range(192))
    assert lazy["mean"] == yacs["mean"] and lazy["std"] == yacs["std"]  # same mapper, same augmentation draws


@pytest.fixture(scope="module")
def trained(data):
    """tools/train_net.py on the .py: the LazyConfig trainer, statistics computed first (the file is missing)."""
    out = data["base"] / "lazy_train"
    auto = data["base"] / "auto" / "dct_stats.json"
    proc = tool("train_net.py", "--config-file", PY, *data["flags"], "train.max_iter=2", "train.log_period=1",
                f"train.output_dir={out}", f"model.pixel_mean.path={auto}", *LAZY_SMALL, env=data["env"])
    return {"out": out, "stats": auto, "weights": out / "model_final.pth", "stderr": proc.stderr,
            "log": proc.stdout + proc.stderr}


def test_train_net_trains_a_lazyconfig(trained):
    with open(trained["out"] / "metrics.json") as f:
        assert [r["iteration"] for r in map(json.loads, f) if "total_loss" in r] == [0, 1]
    assert trained["weights"].is_file()
    assert "model.pixel_mean.path=" in trained["log"]
    assert "does not exist: computing the DCT statistics" in trained["log"]
    with open(trained["stats"]) as f:
        assert json.load(f)["dataset"] == "mine_train"
    assert "Evaluation results for bbox" in trained["log"]  # the final evaluation, on mine_val


@pytest.fixture(scope="module")
def evaluated_loud(data, trained):
    """lazyconfig_train_net.py --eval-only on the .yaml (the yacs trainer) with the LazyConfig-trained weights
    (the twins' checkpoints interchange), with FREQDET_SHOW_WARNINGS=1."""
    out = data["base"] / "yacs_eval"
    env = {**data["env"], "FREQDET_SHOW_WARNINGS": "1"}
    proc = tool("lazyconfig_train_net.py", "--config-file", YAML, *data["flags"], "--eval-only", *YACS_SMALL,
                "MODEL.PIXEL_STATS_FILE", trained["stats"], "MODEL.WEIGHTS", trained["weights"], "OUTPUT_DIR", out,
                env=env)
    return {"out": out, "stderr": proc.stderr, "log": proc.stdout + proc.stderr}


def test_lazyconfig_train_net_evaluates_a_yacs_config(evaluated_loud):
    assert "Evaluation results for bbox" in evaluated_loud["log"]
    assert (evaluated_loud["out"] / "inference" / "mine_val" / "coco_instances_results.json").is_file()


def test_known_warnings_hidden_unless_asked_for(data, trained, evaluated_loud, tmp_path):
    """The loud runs (FREQDET_SHOW_WARNINGS=1: evaluation of the .yaml, show_input of the .py) print the known
    messages this machine produces; the quiet LazyConfig training run, which goes through the same steps
    and more (config, setup, statistics, training, evaluation), prints none of them."""
    photo = os.path.join(data["paths"]["val"]["image_root"], "000001.jpg")
    shown_input = tool("show_input.py", "--config-file", PY, "--input", photo, "--output", tmp_path / "s.png",
                       *LAZY_SMALL, env={**data["env"], "FREQDET_SHOW_WARNINGS": "1"})
    loud = evaluated_loud["log"] + shown_input.stderr
    patterns = [p for _, p, _ in KNOWN_PYTHON_WARNINGS] + [p for _, p in KNOWN_LOG_RECORDS]
    patterns.append(r"detectron2\._C\s+not built correctly: No module named")
    shown = [p for p in patterns if re.search(p, loud)]
    if not shown:
        pytest.skip("this environment prints none of the known warnings")
    assert not [p for p in shown if re.search(p, trained["log"])], trained["stderr"][-3000:]
    assert "Environment info" in trained["log"]  # the table is still logged, without the missing-_C row


def test_quiet_filter_leaves_other_warnings(data):
    code = ("from freqdet.core.known_warnings import quiet_known_warnings\n"
            "quiet_known_warnings()\n"
            "import warnings\n"
            "warnings.warn('`torch.jit.script` is deprecated. Please switch', FutureWarning)\n"
            "warnings.warn('something else is deprecated', FutureWarning)\n")
    proc = subprocess.run([sys.executable, "-c", code], env=data["env"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "something else is deprecated" in proc.stderr and "torch.jit.script" not in proc.stderr


def test_demo_on_a_lazyconfig(data, trained, tmp_path):
    out = tmp_path / "pred.png"
    tool("demo.py", "--config-file", PY, "--input", data["paths"]["val"]["image_root"], *LAZY_SMALL,
         f"model.pixel_mean.path={trained['stats']}", f"train.init_checkpoint={trained['weights']}",
         "--output", out, "--confidence-threshold", "0", "--dataset", data["flags"][3], env=data["env"])
    image = cv2.imread(str(out))
    assert image is not None and image.shape[:2] == (128, 2 * (128 + 4))  # 2 val images tiled


def test_show_input_gives_the_same_picture_for_both_kinds(data, tmp_path):
    photo = os.path.join(data["paths"]["val"]["image_root"], "000001.jpg")
    pictures = []
    for config, small in ((PY, LAZY_SMALL), (YAML, YACS_SMALL)):
        out = tmp_path / f"{os.path.basename(config)}.png"
        tool("show_input.py", "--config-file", config, "--input", photo, "--output", out, *small, env=data["env"])
        pictures.append(cv2.imread(str(out)))
    assert pictures[0] is not None and pictures[0].shape[0] == 128 + 28
    np.testing.assert_array_equal(pictures[0], pictures[1])


def test_export_model_on_a_lazyconfig(data, trained, tmp_path):
    photo = os.path.join(data["paths"]["val"]["image_root"], "000001.jpg")
    tool("export_model.py", "--config-file", PY, "--sample-image", photo, "--output", tmp_path, *LAZY_SMALL,
         f"model.pixel_mean.path={trained['stats']}", f"train.init_checkpoint={trained['weights']}", env=data["env"])
    assert (tmp_path / "model.ts").is_file()


# ---- override style, in-process -------------------------------------------------------------------------


def test_config_kind():
    assert config_kind(PY) == LAZY and config_kind(YAML) == YACS
    with pytest.raises(ToolConfigError, match="expected a yacs .yaml or a LazyConfig .py"):
        config_kind("config.json")


def test_saved_lazyconfig_yaml_is_read_as_a_lazyconfig(trained):
    """default_setup writes the LazyConfig of a run as config.yaml: it is a LazyConfig, not yacs."""
    saved = str(trained["out"] / "config.yaml")
    assert config_kind(saved) == LAZY
    assert load_tool_config(saved).train_datasets == ("mine_train",)


@pytest.mark.parametrize("config, opts, message", [
    (YAML, ["MODEL.WEIGHTS=x.pth"], r"is a yacs config: overrides are KEY VALUE pairs .* got 'MODEL.WEIGHTS=x.pth'"),
    (YAML, ["train.init_checkpoint=x.pth"], r"key=value is the style of LazyConfig \.py configs"),
    (YAML, ["MODEL.WEIGHTS"], r"an odd number of words"),
    (PY, ["MODEL.WEIGHTS", "x.pth"], r"is a LazyConfig: overrides are key=value .* got 'MODEL.WEIGHTS'"),
    (PY, ["dataloader.train.mapper.augmentations[0].short_edge_length=[256]"], r"augmentations\.0, not \[0\]"),
])
def test_wrong_override_style_names_the_right_one(config, opts, message):
    with pytest.raises(ToolConfigError, match=message):
        load_tool_config(config, opts)


def test_both_kinds_answer_the_same(data):
    """What the tools read: datasets, input, statistics file, weights, as each kind holds them."""
    lazy = load_tool_config(PY, [*LAZY_SMALL, "model.pixel_mean.path=s.json", "train.init_checkpoint=w.pth"],
                            data["flags"][1::2])
    yacs = load_tool_config(YAML, [*YACS_SMALL, "MODEL.PIXEL_STATS_FILE", "s.json", "MODEL.WEIGHTS", "w.pth"])
    for tc in (lazy, yacs):
        assert (tc.train_datasets, tc.test_datasets) == (("mine_train",), ("mine_val",))
        assert (tc.stats_file, tc.weights, tc.weights_partial, tc.input_format) == ("s.json", "w.pth", False, "BGR")
        assert (tc.input_spec.channels, tc.input_spec.upsample) == (yacs.input_spec.channels, 1)
