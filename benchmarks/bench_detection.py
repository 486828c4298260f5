#!/usr/bin/env python
"""Model cost side by side: RGB Mask R-CNN R50-FPN vs DCT-24 (s=2, s=1), same images, one run.

Two measurements (``--only train|coco`` runs one):

train: seconds per training iteration at the demo's size. All three models take the same demo config (GN, from scratch, same heads and batch) and
the same images (192 px, as the demo trains); they differ only in the input: Detectron2's RGB model on the image,
FreqRCNN on its DCT-24 at s=2 or s=1. Iterations are interleaved round-robin so machine
load hits all three alike; medians are reported. Data mapping is timed separately.

coco: inference latency at COCO scale: one real photo as an 800x1333 image, the COCO configs
(Mask R-CNN R50-FPN, frozen BN, random init: latency does not depend on the weights), every
model handed the same image; ``SCORE_THRESH_TEST`` 0 so every model's box and mask heads run on
up to 100 detections (the count is reported: random weights can leave fewer). Models alternate (A/B/C/D, ``--coco-rounds`` rounds after a warm-up);
wall-clock medians with torch's threads, and the CPU seconds of the same calls. The mapper is
not timed (see bench_mapper.py); ``dct24_s2_on_device`` includes its in-model DCT.

    python benchmarks/bench_detection.py --iters 5 --coco-rounds 3 [--device cuda]
"""
import argparse
import os
import statistics
import time

import cv2

import torch
from detectron2.data import DatasetCatalog, DatasetMapper
from detectron2.modeling import build_model
from detectron2.utils.events import EventStorage

from freqdet.detection.config import fpn_feature_opts, input_spec, load_config
from freqdet.detection.mapper import DCTDatasetMapper
from freqdet.detection.stats import dataset_dct_stats
from freqdet.synthetic.coco_writer import generate_demo_dataset
from freqdet.synthetic.register import register_demo_datasets
from freqdet.core.stats import save_dct_stats

CONFIG = "configs/Demo/mask_rcnn_dct24_R_50_FPN_demo.yaml"
COCO_CONFIGS = {  # name -> (config, overrides); rgb: Detectron2's own model on the same image
    "rgb": ("configs/COCO-InstanceSegmentation/mask_rcnn_dct24_R_50_FPN_1x.yaml",
            ["MODEL.META_ARCHITECTURE", "GeneralizedRCNN", "MODEL.BACKBONE.NAME", "build_resnet_fpn_backbone",
             "MODEL.BACKBONE.FREEZE_AT", 2]),
    "dct24_s2": ("configs/COCO-InstanceSegmentation/mask_rcnn_dct24_R_50_FPN_1x.yaml", []),
    "dct24_s2_on_device": ("configs/COCO-InstanceSegmentation/mask_rcnn_dct24_R_50_FPN_1x.yaml",
                           ["INPUT.DCT.ON_DEVICE", True]),
    "dct24_s1": ("configs/COCO-InstanceSegmentation/mask_rcnn_dct24_s1_R_50_FPN_1x.yaml", []),
}
PHOTO = "/usr/share/backgrounds/mate/nature/Garden.jpg"  # Debian's mate-backgrounds
S2 = ["INPUT.DCT.UPSAMPLE", 2, *fpn_feature_opts(2)]  # the demo config is s=1


def make_cfg(kind, device, stats):
    """The demo config for one of rgb / dct24_s2 / dct24_s1."""
    cfg = load_config(CONFIG, ["MODEL.DEVICE", device, "MODEL.PIXEL_STATS_FILE", stats])
    if kind in ("dct24_s2", "rgb"):
        cfg.merge_from_list(S2)
    if kind == "rgb":  # Detectron2's own model and mapper; ImageNet BGR statistics
        cfg.merge_from_list(["MODEL.META_ARCHITECTURE", "GeneralizedRCNN", "MODEL.BACKBONE.NAME",
                             "build_resnet_fpn_backbone", "MODEL.PIXEL_STATS_FILE", ""])
    return cfg


def coco_cfg(name, device):
    config, overrides = COCO_CONFIGS[name]
    cfg = load_config(config, ["MODEL.DEVICE", device, "MODEL.WEIGHTS", "", "MODEL.ROI_HEADS.SCORE_THRESH_TEST", 0.0,
                         "TEST.DETECTIONS_PER_IMAGE", 100, *overrides])
    if cfg.MODEL.META_ARCHITECTURE == "FreqRCNN":  # latency does not depend on the statistics
        c = input_spec(cfg).num_channels
        cfg.merge_from_list(["MODEL.PIXEL_STATS_FILE", "", "MODEL.PIXEL_MEAN", [0.0] * c, "MODEL.PIXEL_STD", [1.0] * c])
    return cfg


def coco_inference(args):
    """Inference latency of the COCO models on one 800x1333 photo, alternating."""
    photo = cv2.resize(cv2.imread(args.photo), (1333, 800), interpolation=cv2.INTER_AREA)
    path = os.path.join(args.data, "photo_800x1333.jpg")
    os.makedirs(args.data, exist_ok=True)
    cv2.imwrite(path, photo, [cv2.IMWRITE_JPEG_QUALITY, 95])
    record = {"file_name": path, "height": 800, "width": 1333, "image_id": 0}
    models, inputs = {}, {}
    for name in COCO_CONFIGS:
        torch.manual_seed(0)
        cfg = coco_cfg(name, args.device)
        mapper = (DatasetMapper if name == "rgb" else DCTDatasetMapper)(cfg, is_train=False)
        inputs[name] = [mapper(dict(record))]
        models[name] = build_model(cfg).eval()
    wall, cpu, counts = {k: [] for k in models}, {k: [] for k in models}, {}
    with torch.no_grad():
        for r in range(args.coco_rounds + 1):
            for name, model in models.items():
                sync(args.device)
                t, c = time.perf_counter(), time.process_time()
                out = model(inputs[name])
                sync(args.device)
                if r:  # first round is warm-up
                    wall[name].append(time.perf_counter() - t)
                    cpu[name].append(time.process_time() - c)
                counts[name] = len(out[0]["instances"])
    base = statistics.median(wall["rgb"])
    print(f"\nCOCO scale: one 800x1333 photo ({os.path.basename(args.photo)}), device={args.device} "
          f"threads={torch.get_num_threads()}, {args.coco_rounds} alternating rounds (median)")
    cpu_base = statistics.median(cpu["rgb"])
    print("| model | backbone input | detections | latency s | vs RGB | CPU s | vs RGB |")
    print("|---|---|---|---|---|---|---|")
    for name in models:
        med = statistics.median(wall[name])
        print(f"| {name} | {tuple(inputs[name][0]['image'].shape)} | {counts[name]} | {med:.3f} | {med / base:.2f}x | "
              f"{statistics.median(cpu[name]):.3f} | {statistics.median(cpu[name]) / cpu_base:.2f}x |")


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def demo_training(args):
    """Seconds per training iteration at the demo size, the three models interleaved."""
    generate_demo_dataset(f"{args.data}/demo", num_train=args.batch * 2, num_val=1, image_size=256, seed=0)
    register_demo_datasets(f"{args.data}/demo", names=("bench_train", "bench_val"))
    for kind in ("dct24_s2", "dct24_s1"):  # statistics depend on s: one file each, all 192 channels
        cfg = make_cfg(kind, "cpu", "")
        cfg.INPUT.DCT.CHANNELS = ["192"]
        save_dct_stats(f"{args.data}/stats_{kind}.json", *dataset_dct_stats(cfg, "bench_train")[:3])
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
            sync(args.device)
            t = time.perf_counter()
            loss = sum(model(batches[kind]).values())
            opt.zero_grad()
            loss.backward()
            opt.step()
            sync(args.device)
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


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iters", type=int, default=5, help="timed iterations per model (after 1 warm-up)")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--device", default="cpu")
    p.add_argument("--data", default="output/bench_detection", help="where demo images are generated if needed")
    p.add_argument("--coco-rounds", type=int, default=3, help="alternating inference rounds at COCO scale")
    p.add_argument("--photo", default=PHOTO, help="real photo resized to 800x1333 for the COCO-scale latency")
    p.add_argument("--only", choices=["train", "coco"], help="run one of the two measurements")
    args = p.parse_args()
    if args.only != "coco":
        demo_training(args)
    if args.only != "train":
        coco_inference(args)


if __name__ == "__main__":
    main()
