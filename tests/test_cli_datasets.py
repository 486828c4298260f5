"""Own COCO-format data registered from the command line (--dataset NAME=JSON:IMAGE_ROOT): a generated set
under names Detectron2 and freqdet do not know trains 2 iterations and evaluates through tools/train_net.py
(real files, subprocesses, CPU), and malformed specs or missing files are errors naming them."""
import json
import os
import subprocess
import sys

import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog

from freqdet.detection.tool_config import ToolConfigError, parse_dataset_spec, register_datasets
from dataset_utils import own_coco_dataset
from freqdet.synthetic.coco_writer import THING_CLASSES

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = "configs/Demo/mask_rcnn_dct24_R_50_FPN_demo.yaml"
TINY = ["SOLVER.MAX_ITER", "2", "SOLVER.IMS_PER_BATCH", "2", "SOLVER.WARMUP_ITERS", "1",
        "INPUT.MIN_SIZE_TRAIN", "(128,)", "INPUT.MAX_SIZE_TRAIN", "128", "INPUT.MIN_SIZE_TEST", "128",
        "INPUT.MAX_SIZE_TEST", "128", "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "16",
        "MODEL.RPN.BATCH_SIZE_PER_IMAGE", "32",
        "MODEL.RPN.POST_NMS_TOPK_TRAIN", "64", "MODEL.RPN.POST_NMS_TOPK_TEST", "32", "DATALOADER.NUM_WORKERS", "0",
        "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0"]


@pytest.fixture(scope="module")
def own_data(tmp_path_factory):
    base = tmp_path_factory.mktemp("own")
    paths, flags = own_coco_dataset(base / "photos", "shapes", seed=5)
    names = ["DATASETS.TRAIN", '("shapes_train",)', "DATASETS.TEST", '("shapes_val",)']
    return {"base": base, "paths": paths, "flags": flags, "names": names}


def run(args, cwd):
    proc = subprocess.run([sys.executable, os.path.join(REPO, "tools", "train_net.py"), *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=900)
    return proc.returncode, proc.stdout + proc.stderr


def test_cli_registered_dataset_trains_and_evaluates(own_data, tmp_path):
    """The README's "Your own data" commands on a small scale: train (statistics computed for the new set,
    final evaluation on it), then --eval-only of the saved weights."""
    config = os.path.join(REPO, DEMO)
    stats, out = tmp_path / "my_dct_stats.json", tmp_path / "out"
    common = [*own_data["names"], *TINY, "MODEL.PIXEL_STATS_FILE", stats]
    code, log = run(["--config-file", config, *own_data["flags"], *common, "OUTPUT_DIR", out], tmp_path)
    assert code == 0, log[-5000:]
    with open(stats) as f:
        assert json.load(f)["dataset"] == "shapes_train"  # measured on the registered set, not the demo names
    with open(out / "metrics.json") as f:
        assert [r["iteration"] for r in map(json.loads, f) if "total_loss" in r][-1] == 1
    assert "Evaluation results for bbox" in log
    code, log = run(["--config-file", config, *own_data["flags"], "--eval-only", *common,
                     "MODEL.WEIGHTS", out / "model_final.pth", "OUTPUT_DIR", tmp_path / "eval"], tmp_path)
    assert code == 0, log[-5000:]
    assert "Evaluation results for bbox" in log and "Evaluation results for segm" in log
    with open(tmp_path / "eval" / "inference" / "shapes_val" / "coco_instances_results.json") as f:
        detections = json.load(f)
    with open(own_data["paths"]["val"]["json_file"]) as f:
        assert {d["image_id"] for d in detections} <= {im["id"] for im in json.load(f)["images"]}


@pytest.mark.parametrize("spec, message", [
    ("shapes_train", "expected NAME=JSON:IMAGE_ROOT"),
    ("=a.json:b", "expected NAME=JSON:IMAGE_ROOT"),
    ("x=a.json", "expected NAME=JSON:IMAGE_ROOT"),
    ("x=a.json:", "expected NAME=JSON:IMAGE_ROOT"),
])
def test_malformed_spec_names_the_expected_form(spec, message):
    with pytest.raises(ToolConfigError, match=message):
        parse_dataset_spec(spec)


def test_spec_paths_may_hold_colons():
    assert parse_dataset_spec("a=dir:x/train.json:images:2024") == ("a", "dir:x/train.json", "images:2024")
    assert parse_dataset_spec("a=train.JSON:imgs") == ("a", "train.JSON", "imgs")


def test_missing_files_are_named(own_data, tmp_path):
    train = own_data["paths"]["train"]
    with pytest.raises(ToolConfigError, match="the json file .*nope.json' does not exist"):
        register_datasets([f"x={tmp_path / 'nope.json'}:{train['image_root']}"])
    with pytest.raises(ToolConfigError, match="the image folder .*nope' does not exist"):
        register_datasets([f"x={train['json_file']}:{tmp_path / 'nope'}"])
    code, log = run(["--config-file", os.path.join(REPO, DEMO), "--dataset", "broken"], tmp_path)
    assert code == 2 and "--dataset 'broken': expected NAME=JSON:IMAGE_ROOT" in log  # argparse's usage error


def test_registration_replaces_and_repeats(own_data):
    """A name registered again with the same paths is a no-op; other paths replace it. The json's class
    names reach the metadata once it is read (what demo.py labels its drawings with)."""
    train, val = own_data["paths"]["train"], own_data["paths"]["val"]
    spec = f"cli_test={train['json_file']}:{train['image_root']}"
    assert register_datasets([spec, spec]) == ["cli_test", "cli_test"]
    assert len(DatasetCatalog.get("cli_test")) == 4
    assert MetadataCatalog.get("cli_test").thing_classes == list(THING_CLASSES)
    register_datasets([f"cli_test={val['json_file']}:{val['image_root']}"])
    assert len(DatasetCatalog.get("cli_test")) == 2
