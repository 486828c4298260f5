#!/usr/bin/env python
"""Seconds per training iteration: RGB Mask R-CNN R50-FPN vs DCT-24 (s=2, s=1), same images, one run.


All three models take the same demo config (GN, from scratch, same heads and batch) and
the same images (192 px, as the demo trains); they differ only in the input: Detectron2's RGB model on the image,
FreqRCNN on its DCT-24 at s=2 or s=1. Iterations are interleaved round-robin so machine
load hits all three alike; medians are reported. Data mapping is timed separately.

    python benchmarks/bench_detection.py --iters 5 [--device cuda]
"""
import argparse
import statistics
import time

import torch
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, DatasetMapper
from detectron2.modeling import build_model
from detectron2.utils.events import EventStorage

import freqdet
from freqdet.data import (
    DCTDatasetMapper, compute_dct_stats, generate_demo_dataset, register_demo_datasets, save_dct_stats,
)

CONFIG = "configs/Demo/mask_rcnn_dct24_R_50_FPN_demo.yaml"
S2 = ["INPUT.DCT.UPSAMPLE", 2, "MODEL.RPN.IN_FEATURES", ["p2", "p3", "p4", "p5", "p6"],
      "MODEL.ROI_HEADS.IN_FEATURES", ["p2", "p3", "p4", "p5"]]  # the demo config is s=1


def make_cfg(kind, device, stats):
    """The demo config for one of rgb / dct24_s2 / dct24_s1."""
    cfg = get_cfg()
    freqdet.add_freqdet_config(cfg)
    cfg.merge_from_file(CONFIG)
    cfg.merge_from_list(["MODEL.DEVICE", device, "MODEL.PIXEL_STATS_FILE", stats])
    if kind in ("dct24_s2", "rgb"):
        cfg.merge_from_list(S2)
    if kind == "rgb":  # Detectron2's own model and mapper; ImageNet BGR statistics
        cfg.merge_from_list(["MODEL.META_ARCHITECTURE", "GeneralizedRCNN", "MODEL.BACKBONE.NAME",
                             "build_resnet_fpn_backbone", "MODEL.PIXEL_STATS_FILE", ""])
    return cfg


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iters", type=int, default=5, help="timed iterations per model (after 1 warm-up)")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--device", default="cpu")
    p.add_argument("--data", default="output/bench_detection", help="where demo images are generated if needed")
    args = p.parse_args()
    generate_demo_dataset(f"{args.data}/demo", num_train=args.batch * 2, num_val=1, image_size=256, seed=0)
    register_demo_datasets(f"{args.data}/demo", names=("bench_train", "bench_val"))
    for kind in ("dct24_s2", "dct24_s1"):  # statistics depend on s: one file each, all 192 channels
        cfg = make_cfg(kind, "cpu", "")
        cfg.INPUT.DCT.CHANNELS = ["192"]
        save_dct_stats(f"{args.data}/stats_{kind}.json", *compute_dct_stats(cfg, "bench_train")[:3])
    dicts = DatasetCatalog.get("bench_train")
    kinds = ["rgb", "dct24_s2", "dct24_s1"]
    models, batches, map_times = {}, {}, {}
    for kind in kinds:
        torch.manual_seed(0)
        cfg = make_cfg(kind, args.device, f"{args.data}/stats_{kind}.json")
        mapper = (DatasetMapper if kind == "rgb" else DCTDatasetMapper)(cfg, is_train=True)
        t = time.perf_counter()
        batches[kind] = [mapper(dict(d)) for d in dicts[: args.batch]]
        map_times[kind] = (time.perf_counter() - t) / args.batch
        model = build_model(cfg).train()
        models[kind] = (model, torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9))
    times = {k: [] for k in kinds}
    storage = EventStorage(0)  # Detectron2's heads log training statistics into one
    storage.__enter__()
    for i in range(args.iters + 1):
        for kind in kinds:
            model, opt = models[kind]
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            t = time.perf_counter()
            loss = sum(model(batches[kind]).values())
            opt.zero_grad()
            loss.backward()
            opt.step()
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            if i:  # first round is warm-up
                times[kind].append(time.perf_counter() - t)
    base = statistics.median(times["rgb"])
    shape = {k: tuple(batches[k][0]["image"].shape) for k in kinds}
    print(f"device={args.device} threads={torch.get_num_threads()} batch={args.batch} images 192 px (from 256x256 files), "
          f"{args.iters} timed iterations each (median)")
    print(f"{'model':<10} {'input':<16} {'s/iter':>8} {'vs RGB':>7} {'map s/img':>10}")
    for k in kinds:
        med = statistics.median(times[k])
        print(f"{k:<10} {str(shape[k]):<16} {med:8.3f} {med / base:7.2f} {map_times[k]:10.4f}")


if __name__ == "__main__":
    main()
