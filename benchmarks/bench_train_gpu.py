#!/usr/bin/env python
"""Training images/s on one GPU, real loader and workers: RGB vs DCT-24 s=2 (loader DCT) vs on-device DCT.

Mask R-CNN R50-FPN at COCO scale (ResizeShortestEdge 640-800/1333 + flip, batch --batch),
random init. Per pipeline, three rates in images/s: the loader alone (its workers, no model),
the model alone (one loaded batch repeated: forward, backward, SGD step), and training (both, as
Detectron2's SimpleTrainer runs them). Training runs near the smaller of the first two, which
names the bottleneck. Pipelines run one after another in a single process; compare ratios.

    python benchmarks/bench_train_gpu.py --workers 8 --iters 30 --output output/benchmarks/train_gpu.json
"""
import argparse
import json
import os
import time

import torch
from detectron2.data import DatasetMapper, build_detection_train_loader
from detectron2.engine import SimpleTrainer
from detectron2.modeling import build_model
from detectron2.solver import build_optimizer
from detectron2.utils.events import EventStorage

from freqdet.detection.config import load_config
from freqdet.detection.mapper import DCTDatasetMapper
from freqdet.synthetic.coco_writer import generate_demo_dataset
from freqdet.synthetic.register import register_demo_datasets

CONFIG = "configs/COCO-InstanceSegmentation/mask_rcnn_dct24_R_50_FPN_1x.yaml"
PIPELINES = {  # name -> config overrides (rgb: Detectron2's own model and mapper)
    "rgb": ["MODEL.META_ARCHITECTURE", "GeneralizedRCNN", "MODEL.BACKBONE.NAME", "build_resnet_fpn_backbone",
            "MODEL.BACKBONE.FREEZE_AT", 2, "MODEL.PIXEL_STATS_FILE", ""],
    "dct24_s2_loader_f16": ["INPUT.DCT.DTYPE", "float16"],
    "dct24_s2_loader_f32": ["INPUT.DCT.DTYPE", "float32"],
    "dct24_s2_on_device": ["INPUT.DCT.ON_DEVICE", True],
}


def make_cfg(name, args):
    c = 24
    cfg = load_config(CONFIG, [
        "MODEL.WEIGHTS", "", "MODEL.PIXEL_STATS_FILE", "", "MODEL.PIXEL_MEAN", [0.0] * c, "MODEL.PIXEL_STD", [50.0] * c,
        "MODEL.ROI_HEADS.NUM_CLASSES", 5, "DATASETS.TRAIN", ("bench_gpu_train",), "DATASETS.TEST", (),
        "SOLVER.IMS_PER_BATCH", args.batch, "SOLVER.BASE_LR", 0.0001, "DATALOADER.NUM_WORKERS", args.workers,
        "MODEL.DEVICE", args.device, "INPUT.MASK_FORMAT", "bitmask",  # the demo set has RLE masks
        "MODEL.RESNETS.NORM", "BN",  # trainable BN: FrozenBN with random weights diverges at once
    ])
    cfg.merge_from_list(PIPELINES[name])
    if name == "rgb":
        cfg.MODEL.PIXEL_MEAN, cfg.MODEL.PIXEL_STD = [103.53, 116.28, 123.675], [1.0, 1.0, 1.0]
    return cfg


def rate(step, iters, batch, sync):
    for _ in range(3):  # warm-up
        step()
    sync()
    t = time.perf_counter()
    for _ in range(iters):
        step()
    sync()
    return iters * batch / (time.perf_counter() - t)


def measure(name, args):
    cfg = make_cfg(name, args)
    mapper = (DatasetMapper if name == "rgb" else DCTDatasetMapper)(cfg, is_train=True)
    loader = build_detection_train_loader(cfg, mapper=mapper)
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    batches = iter(loader)
    loader_rate = rate(lambda: next(batches), args.iters, args.batch, sync)
    model = build_model(cfg).train()
    optimizer = build_optimizer(cfg, model)
    batch = next(batches)
    nbytes = sum(d["image"].numel() * d["image"].element_size() for d in batch) / len(batch)

    def model_step():
        losses = sum(model(batch).values())
        optimizer.zero_grad()
        losses.backward()
        optimizer.step()

    with EventStorage(0):
        model_rate = rate(model_step, args.iters, args.batch, sync)
        trainer = SimpleTrainer(model, loader, optimizer)
        train_rate = rate(trainer.run_step, args.iters, args.batch, sync)
    del trainer, model, optimizer, batches, loader
    torch.cuda.empty_cache() if args.device == "cuda" else None
    return {"loader_img_s": loader_rate, "model_img_s": model_rate, "train_img_s": train_rate,
            "bytes_per_image": nbytes}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=8, help="DataLoader workers")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--iters", type=int, default=20, help="timed iterations per rate (after 3 warm-up)")
    p.add_argument("--images", type=int, default=96, help="demo images generated (640 px, real photo backgrounds)")
    p.add_argument("--device", default="cuda")
    p.add_argument("--data", default="output/bench_train_gpu")
    p.add_argument("--output", default="output/benchmarks/train_gpu.json")
    args = p.parse_args()
    generate_demo_dataset(f"{args.data}/demo", num_train=args.images, num_val=1, image_size=640, seed=0)
    register_demo_datasets(f"{args.data}/demo", names=("bench_gpu_train", "bench_gpu_val"))
    results = {name: measure(name, args) for name in PIPELINES}
    device = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    print(f"\n{device}, {os.cpu_count()} CPU cores, {args.workers} workers, batch {args.batch}, {args.iters} iterations\n")
    print("| pipeline | loader img/s | model img/s | training img/s | vs RGB | bottleneck | MB/image |")
    print("|---|---|---|---|---|---|---|")
    base = results["rgb"]["train_img_s"]
    for name, r in results.items():
        neck = "loader" if r["loader_img_s"] < r["model_img_s"] else "GPU"
        print(f"| {name} | {r['loader_img_s']:.1f} | {r['model_img_s']:.1f} | {r['train_img_s']:.1f} | "
              f"{r['train_img_s'] / base:.2f}x | {neck} | {r['bytes_per_image'] / 2**20:.2f} |")
    os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
    with open(args.output, "w") as f:
        json.dump({"device": device, "args": vars(args), "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
