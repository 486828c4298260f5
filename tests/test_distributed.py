"""Multi-process runs: the data each process trains on is its share of the one-process batch, 2-process
evaluation equals 1-process evaluation, and a worker that dies ends the run with an error."""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog

from freqdet.data import DCTDatasetMapper
from freqdet.data.resumable import PositionDataset, PositionSampler
from test_train_net import DEMO_CONFIG, TINY, iterations, run, tiny, train  # noqa: F401  (fixture)
from test_detection_model import make_cfg


def test_ranks_share_the_single_process_batches(tiny):
    """Rank r of W trains on positions i*B + r + k*W of iteration i: together exactly the one-process
    batch, and every item (image, augmentation, annotations) is the same whichever process maps it."""
    cfg = make_cfg("24", 1)
    cfg.merge_from_list(["INPUT.MIN_SIZE_TRAIN", (96, 128), "INPUT.MAX_SIZE_TRAIN", 128, "INPUT.DCT.DTYPE", "float32",
                         "INPUT.MASK_FORMAT", "bitmask"])  # the demo data holds RLE masks
    dicts = DatasetCatalog.get("tiny_train")
    one = PositionDataset(dicts, DCTDatasetMapper(cfg, is_train=True), seed=5)
    batch, iters = 4, 3
    single = [p for p, _ in zip(PositionSampler(0, rank=0, world_size=1), range(batch * iters))]
    shards = [[p for p, _ in zip(PositionSampler(0, rank=r, world_size=2), range(batch * iters // 2))] for r in (0, 1)]
    for i in range(iters):
        per_rank = [s[i * batch // 2:(i + 1) * batch // 2] for s in shards]
        assert sorted(per_rank[0] + per_rank[1]) == single[i * batch:(i + 1) * batch]
    other = PositionDataset(dicts, DCTDatasetMapper(cfg, is_train=True), seed=5)  # "another process"
    for p in reversed(shards[1]):  # any order, after any other items
        a, b = one[p], other[p]
        assert a["file_name"] == b["file_name"] and torch.equal(a["image"], b["image"])
        assert torch.equal(a["instances"].gt_boxes.tensor, b["instances"].gt_boxes.tensor)
    sizes = {tuple(one[p]["image"].shape) for p in range(8)}
    assert len(sizes) > 1  # the augmentation really is random (two train sizes), just reproducible


def _spawned_children(pid):
    """Worker processes that torch.multiprocessing spawned for ``pid`` (not its resource tracker)."""
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        kids = [int(k) for k in f.read().split()]
    out = []
    for k in kids:
        try:
            with open(f"/proc/{k}/cmdline", "rb") as f:
                if b"spawn_main" in f.read():
                    out.append(k)
        except FileNotFoundError:
            pass
    return out


def test_dead_worker_fails_the_run(tiny, tmp_path):
    """SIGKILL one of two training processes mid-run: the launcher stops the other and exits non-zero,
    naming the process and the signal, instead of waiting on a collective forever."""
    out = tmp_path / "run"
    cmd = [sys.executable, "tools/train_net.py", "--config-file", DEMO_CONFIG, "--num-gpus", "2", *TINY,
           "SOLVER.MAX_ITER", "100000", "MODEL.PIXEL_STATS_FILE", str(tiny["stats"]), "OUTPUT_DIR", str(out)]
    proc = subprocess.Popen(cmd, env=tiny["env"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, started = [], threading.Event()

    def read():  # the console log is line-buffered (log.txt is not)
        for line in proc.stdout:
            lines.append(line)
            if "Starting training from iteration 0" in line:
                started.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert started.wait(timeout=300), "".join(lines[-50:])
        time.sleep(2)  # inside the training loop (DDP all-reduce every step)
        workers = _spawned_children(proc.pid)
        assert len(workers) == 2, workers
        os.kill(workers[-1], signal.SIGKILL)
        proc.wait(timeout=120)  # fails the test if the launcher hangs
        reader.join(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = "".join(lines)
    assert proc.returncode != 0
    assert "terminated with signal SIGKILL" in output, output[-3000:]


def test_two_process_evaluation_equals_one(tiny, tmp_path):
    """--eval-only of the same weights on 1 and 2 processes gives the same COCO numbers (each image is
    inferred once, on one of the processes, and the results are gathered)."""
    train(tiny, tmp_path / "w")
    results = []
    for gpus in (1, 2):
        out = tmp_path / f"eval{gpus}"
        run(["tools/train_net.py", "--config-file", DEMO_CONFIG, "--eval-only", "--num-gpus", gpus, *TINY,
             "MODEL.PIXEL_STATS_FILE", tiny["stats"], "OUTPUT_DIR", out, "MODEL.WEIGHTS", tmp_path / "w" / "model_final.pth",
             "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0"], tiny["env"])
        pred = out / "inference" / "freqdet_demo_val" / "coco_instances_results.json"
        with open(pred) as f:
            results.append(sorted(json.load(f), key=lambda r: (r["image_id"], -r["score"], r["bbox"])))
    assert len(results[0]) == len(results[1]) > 0
    for a, b in zip(*results):
        assert a["image_id"] == b["image_id"] and a["category_id"] == b["category_id"]
        np.testing.assert_allclose(a["bbox"], b["bbox"], rtol=1e-4, atol=1e-3)
        assert a["score"] == pytest.approx(b["score"], rel=1e-4, abs=1e-6)
