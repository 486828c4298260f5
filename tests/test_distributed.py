"""Multi-process runs: the data each process trains on is its share of the one-process batch, and a
worker that dies ends the run with an error (2-process evaluation: tests/test_train_net.py)."""
import os
import signal
import subprocess
import sys
import threading
import time

import torch
from detectron2.data import DatasetCatalog

from freqdet.detection.mapper import DCTDatasetMapper
from freqdet.engine.resumable import PositionDataset, PositionSampler
from test_train_net import DEMO_CONFIG, TINY, tiny  # noqa: F401  (fixture)
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
    cmd = [sys.executable, "tools/train_net.py", "--config-file", DEMO_CONFIG, "--num-gpus", "2", "--dist-url", "auto", *TINY,
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
