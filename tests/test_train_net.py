"""End to end through the real scripts: stats tool, train_net.py (1 and 2 CPU processes), --eval-only,
and ground truth round-tripping through FreqRCNN and COCOEvaluator."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog
from detectron2.evaluation import COCOEvaluator
from detectron2.modeling import build_model
from detectron2.structures import BoxMode, Boxes, Instances

from freqdet.detection.config import fpn_feature_opts, load_config
from freqdet.detection.mapper import DCTDatasetMapper
from freqdet.detection.stats import ensure_dct_stats
from freqdet.synthetic.coco_writer import generate_demo_dataset
from freqdet.synthetic.register import register_demo_datasets
from test_detection_model import make_cfg

DEMO_CONFIG = "configs/Demo/mask_rcnn_dct24_R_50_FPN_demo.yaml"
TINY = [
    "SOLVER.MAX_ITER", "2", "SOLVER.IMS_PER_BATCH", "2", "SOLVER.WARMUP_ITERS", "1",
    "INPUT.MIN_SIZE_TRAIN", "(128,)", "INPUT.MAX_SIZE_TRAIN", "128",
    "INPUT.MIN_SIZE_TEST", "160", "INPUT.MAX_SIZE_TEST", "160",
    "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "16", "MODEL.RPN.BATCH_SIZE_PER_IMAGE", "32",
    "MODEL.RPN.POST_NMS_TOPK_TRAIN", "64", "MODEL.RPN.POST_NMS_TOPK_TEST", "32",
    "DATALOADER.NUM_WORKERS", "0", "TEST.EVAL_PERIOD", "0",
]
S2 = ["INPUT.DCT.UPSAMPLE", "2", *fpn_feature_opts(2)]  # the demo config is s=1


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """4+2 generated demo images at 128 px, visible as freqdet_demo_* to subprocesses via FREQDET_DATASETS."""
    base = tmp_path_factory.mktemp("data")
    generate_demo_dataset(base / "demo", num_train=4, num_val=2, image_size=128, seed=1)
    env = {**os.environ, "FREQDET_DATASETS": str(base), "PYTHONWARNINGS": "ignore"}
    register_demo_datasets(base / "demo", names=("tiny_train", "tiny_val"))
    stats = base / "stats.json"
    run(["tools/compute_dct_stats.py", "--config-file", DEMO_CONFIG, "--output", stats, *TINY], env)
    return {"root": base, "env": env, "stats": stats}


def run(args, env, timeout=600):
    proc = subprocess.run([sys.executable, *map(str, args)], env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc.stdout + proc.stderr


def train(tiny, out, *opts, gpus=1):
    return run(["tools/train_net.py", "--config-file", DEMO_CONFIG, "--num-gpus", gpus, "--dist-url", "auto", *TINY,
                "MODEL.PIXEL_STATS_FILE", tiny["stats"], "OUTPUT_DIR", out, *opts], tiny["env"])


def iterations(out):
    with open(os.path.join(out, "metrics.json")) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [r for r in rows if "total_loss" in r]


def test_stats_tool_matches_numpy(tiny):
    with open(tiny["stats"]) as f:
        data = json.load(f)
    assert data["channels"] == list(range(192)) and data["num_images"] == 4
    cfg = make_cfg("192", 1)
    cfg.merge_from_file(DEMO_CONFIG)
    cfg.merge_from_list(TINY + ["INPUT.DCT.CHANNELS", ["192"], "INPUT.DCT.DTYPE", "float32"])  # the tool measures float32
    np.random.seed(0)  # the tool's default --seed: same augmentation draws
    mapper = DCTDatasetMapper(cfg, is_train=True)
    tensors = [mapper(d)["image"].numpy().reshape(192, -1) for d in DatasetCatalog.get("tiny_train")]
    allv = np.concatenate(tensors, axis=1).astype(np.float64)
    np.testing.assert_allclose([data["mean"][str(c)] for c in range(192)], allv.mean(1), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose([data["std"][str(c)] for c in range(192)], allv.std(1), rtol=1e-6, atol=1e-6)


@pytest.fixture(scope="module")
def trained_mask_rcnn(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("mask_rcnn")
    train(tiny, out)
    return out


def test_mask_rcnn_trains_two_iterations(trained_mask_rcnn):
    rows = iterations(trained_mask_rcnn)
    assert rows[-1]["iteration"] == 1 and all(np.isfinite(r["loss_mask"]) for r in rows)
    assert os.path.isfile(trained_mask_rcnn / "model_final.pth")


def test_faster_rcnn_s2_trains_two_iterations(tiny, tmp_path):
    stats = tmp_path / "stats_s2.json"  # statistics depend on s
    run(["tools/compute_dct_stats.py", "--config-file", DEMO_CONFIG, "--output", stats, *TINY, *S2], tiny["env"])
    train(tiny, tmp_path, "MODEL.MASK_ON", "False", *S2, "MODEL.PIXEL_STATS_FILE", stats)
    rows = iterations(tmp_path)
    assert rows[-1]["iteration"] == 1 and "loss_mask" not in rows[-1] and np.isfinite(rows[-1]["loss_box_reg"])
    assert os.path.isfile(tmp_path / "model_final.pth")


def test_missing_stats_file_is_computed_and_cached(tiny, tmp_path):
    """A config whose MODEL.PIXEL_STATS_FILE does not exist yet trains: the main process measures the
    statistics first (progress bar), exactly as tools/compute_dct_stats.py does, and caches them."""
    stats = tmp_path / "cache" / "dct_stats.json"
    log = train(tiny, tmp_path, "MODEL.PIXEL_STATS_FILE", stats)
    assert f"MODEL.PIXEL_STATS_FILE='{stats}' does not exist: computing the DCT statistics" in log
    assert "DCT stats freqdet_demo_train: 100%" in log  # tqdm
    with open(stats) as f, open(tiny["stats"]) as g:
        auto, tool = json.load(f), json.load(g)
    assert auto["upsample"] == tool["upsample"] == 1 and auto["num_images"] == 4
    assert auto["mean"] == tool["mean"] and auto["std"] == tool["std"]
    assert iterations(tmp_path)[-1]["iteration"] == 1
    # the same images (registered here as tiny_train) and config: cached, not recomputed
    cfg = load_config(DEMO_CONFIG, [*TINY, "DATASETS.TRAIN", '("tiny_train",)', "MODEL.PIXEL_STATS_FILE", str(stats)])
    mtime = os.path.getmtime(stats)
    assert ensure_dct_stats(cfg) == str(stats) and os.path.getmtime(stats) == mtime


GATE_CONFIG = "configs/Demo/mask_rcnn_dct192_gate_R_50_FPN_demo.yaml"
RESUME = ["SOLVER.MAX_ITER", "4", "SOLVER.CHECKPOINT_PERIOD", "2", "SEED", "7", "DATALOADER.NUM_WORKERS", "1",
          "MODEL.FREQ_GATE.LAMBDA_WARMUP_ITERS", "2", "MODEL.FREQ_GATE.LOG_PERIOD", "1", "MODEL.FREQ_GATE.HEATMAP", "False"]


def test_resume_after_kill_ends_with_the_uninterrupted_weights(tiny, tmp_path):
    """The gate model (Gumbel noise, tau/lambda schedules), killed right after its iteration-1 checkpoint
    and restarted with --resume, ends with the weights of the run that was never interrupted."""
    import signal
    import time

    def cmd(out, *extra):
        return [sys.executable, "tools/train_net.py", "--config-file", GATE_CONFIG, *extra, *TINY, *RESUME,
                "MODEL.PIXEL_STATS_FILE", str(tiny["stats"]), "OUTPUT_DIR", str(out)]

    full, cut = tmp_path / "full", tmp_path / "cut"
    uninterrupted = subprocess.Popen(cmd(full), env=tiny["env"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)  # alongside the run to be killed
    proc = subprocess.Popen(cmd(cut), env=tiny["env"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = cut / "model_0000001.pth"
    def saved():  # Detectron2 writes the .pth, then last_checkpoint naming it
        last = cut / "last_checkpoint"
        return last.exists() and last.read_text() in (ckpt.name, "model_0000003.pth", "model_final.pth")

    while proc.poll() is None and not saved():
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for f in cut.glob("model_*.pth"):  # if it got further before the kill, forget that: resume from iteration 1
        if f != ckpt:
            f.unlink()
    (cut / "last_checkpoint").write_text(ckpt.name)
    log = run(cmd(cut, "--resume")[1:], tiny["env"])
    assert uninterrupted.wait(timeout=600) == 0, uninterrupted.stderr.read()[-3000:]
    assert "Starting training from iteration 2" in log
    a = torch.load(full / "model_final.pth", weights_only=True)
    b = torch.load(cut / "model_final.pth", weights_only=True)
    assert a["iteration"] == b["iteration"] == 3 and set(a["model"]) == set(b["model"])
    for k in a["model"]:
        torch.testing.assert_close(b["model"][k], a["model"][k], rtol=1e-5, atol=1e-6, msg=k)
    opt_a, opt_b = a["trainer"]["_trainer"]["optimizer"], b["trainer"]["_trainer"]["optimizer"]
    assert len(opt_a["state"]) == len(opt_b["state"]) > 0
    for group_a, group_b in zip(opt_a["state"].values(), opt_b["state"].values()):
        torch.testing.assert_close(group_b["momentum_buffer"], group_a["momentum_buffer"], rtol=1e-5, atol=1e-6)
    rows = {r["iteration"]: r for r in iterations(full)}
    resumed = {r["iteration"]: r for r in iterations(cut) if r["iteration"] >= 2}
    # Detectron2's writers log the last iteration (period 20); losses there are medians over the
    # run's window, so compare the unsmoothed gate values: schedules, and the sampled (Gumbel) masks.
    keys = ["gate/tau", "gate/lambda", "gate/channels_on", *(f"gate/rate/{i:03d}" for i in range(192))]
    assert {k: resumed[3][k] for k in keys} == pytest.approx({k: rows[3][k] for k in keys}, rel=1e-6)


def test_two_cpu_processes_train_and_checkpoint(tiny, tmp_path):
    log = train(tiny, tmp_path, gpus=2)
    assert "World size: 2" in log
    assert iterations(tmp_path)[-1]["iteration"] == 1
    assert os.path.isfile(tmp_path / "model_final.pth")


def test_eval_only_with_saved_checkpoint(tiny, trained_mask_rcnn, tmp_path):
    log = run(["tools/train_net.py", "--config-file", DEMO_CONFIG, "--eval-only", *TINY,
               "MODEL.PIXEL_STATS_FILE", tiny["stats"], "OUTPUT_DIR", tmp_path,
               "MODEL.WEIGHTS", trained_mask_rcnn / "model_final.pth",
               "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0"], tiny["env"])  # 2 iterations: keep low scores
    assert "Evaluation results for bbox" in log and "Evaluation results for segm" in log
    assert os.path.isfile(tmp_path / "inference" / "freqdet_demo_val" / "coco_instances_results.json")


def test_ground_truth_round_trips_to_ap_100(tiny, tmp_path):
    """GT boxes, in augmented pixel space, go through FreqRCNN's inference and the real
    COCOEvaluator as detections: coordinates come back exactly, so bbox AP is 100."""
    cfg = make_cfg("24", 2)
    cfg.merge_from_list(["MODEL.ROI_HEADS.NUM_CLASSES", 5, "INPUT.MIN_SIZE_TEST", 200, "INPUT.MAX_SIZE_TEST", 200,
                         "INPUT.MASK_FORMAT", "bitmask"])
    model = build_model(cfg).eval()
    mapper = DCTDatasetMapper(cfg, is_train=False)
    evaluator = COCOEvaluator("tiny_val", tasks=("bbox",), output_dir=str(tmp_path))
    evaluator.reset()
    for d in DatasetCatalog.get("tiny_val"):
        inp = mapper(dict(d))
        h, w = inp["image_size"]
        assert (h, w) == (200, 200) and (d["height"], d["width"]) == (128, 128)
        boxes = torch.tensor([BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS) for a in d["annotations"]])
        det = Instances((h, w), pred_boxes=Boxes(boxes * 200 / 128), scores=torch.ones(len(boxes)),
                        pred_classes=torch.tensor([a["category_id"] for a in d["annotations"]]))
        with torch.no_grad():
            out = model.inference([inp], detected_instances=[det])
        evaluator.process([inp], out)
    ap = evaluator.evaluate()["bbox"]["AP"]
    assert ap == pytest.approx(100.0, abs=1e-6)


def test_demo_script_writes_predictions(tiny, trained_mask_rcnn, tmp_path):
    out = tmp_path / "pred.png"
    run(["tools/demo.py", "--config-file", DEMO_CONFIG, "--input", tiny["root"] / "demo" / "val",
         "--output", out, "--confidence-threshold", "0.0",
         *TINY, "MODEL.PIXEL_STATS_FILE", tiny["stats"],  # overrides last, as for train_net.py
         "MODEL.WEIGHTS", trained_mask_rcnn / "model_final.pth"], tiny["env"])
    import cv2

    image = cv2.imread(str(out))
    assert image is not None and image.shape[0] == 128 and image.shape[1] == 2 * (128 + 4)  # 2 val images tiled


def test_two_process_evaluation_equals_one(tiny, trained_mask_rcnn, tmp_path):
    """--eval-only of the same weights on 1 and 2 processes gives the same detections (each image is
    inferred once, on one of the processes, and the results are gathered)."""
    results = []
    for gpus in (1, 2):
        out = tmp_path / f"eval{gpus}"
        run(["tools/train_net.py", "--config-file", DEMO_CONFIG, "--eval-only", "--num-gpus", gpus, "--dist-url", "auto", *TINY,
             "MODEL.PIXEL_STATS_FILE", tiny["stats"], "OUTPUT_DIR", out,
             "MODEL.WEIGHTS", trained_mask_rcnn / "model_final.pth", "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0"],
            tiny["env"])
        with open(out / "inference" / "freqdet_demo_val" / "coco_instances_results.json") as f:
            results.append(sorted(json.load(f), key=lambda r: (r["image_id"], -r["score"], r["bbox"])))
    assert len(results[0]) == len(results[1]) > 0
    for a, b in zip(*results):
        assert a["image_id"] == b["image_id"] and a["category_id"] == b["category_id"]
        np.testing.assert_allclose(a["bbox"], b["bbox"], rtol=1e-4, atol=1e-3)
        assert a["score"] == pytest.approx(b["score"], rel=1e-4, abs=1e-6)
