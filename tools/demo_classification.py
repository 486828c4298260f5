#!/usr/bin/env python
"""Classification demo: a DCT-24 classifier vs its RGB twin, same script and recipe, on Fashion-MNIST.

Writes Debian's Fashion-MNIST as a JPEG ImageFolder (when missing), trains both models on
CPU with tools/train_classifier.py's trainer (freqdet.classification.trainer), and prints their top-1 side by side. As in the
paper, both networks see feature maps of the same size: the DCT grid (stride 8) replaces
ResNet-50's stride-4 stem and MobileNetV2's stride-2 first conv, so the DCT image has twice
the RGB side for ResNet-50 (paper: 448 vs 224) and four times for MobileNetV2 (896 vs 224).
"""
import argparse
import json
import os
import time

from detectron2.engine import default_argument_parser

from freqdet.classification.trainer import main
from freqdet.synthetic.fashion_mnist import write_image_folder

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--output", default="output/demo/classification")
    p.add_argument("--data", default="datasets/fashion_mnist_128", help="created here when missing")
    p.add_argument("--image-size", type=int, default=128, help="side of the written JPEGs = DCT crop")
    p.add_argument("--rgb-size", type=int, default=None,
                   help="crop of the RGB baseline (default: the side giving the DCT model's feature sizes)")
    p.add_argument("--train-per-class", type=int, default=500)
    p.add_argument("--val-per-class", type=int, default=100)
    p.add_argument("--arch", default="mobilenet_v2", choices=("resnet50", "mobilenet_v2"),
                   help="MobileNetV2 by default: about half ResNet-50's CPU time per step")
    p.add_argument("--channels", default="24")
    p.add_argument("--epochs", type=float, default=10)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.0125, help="0.1 x batch / 256, the ImageNet rule")
    p.add_argument("--num-workers", type=int, default=1)
    a = p.parse_args()
    if a.rgb_size is None:
        a.rgb_size = a.image_size // (4 if a.arch == "mobilenet_v2" else 2)

    if not os.path.isdir(os.path.join(a.data, "val")):
        write_image_folder(a.data, a.image_size, {"train": a.train_per_class, "val": a.val_per_class})
    recipe = ["DATASETS.ROOT", a.data, "SOLVER.EPOCHS", float(a.epochs), "SOLVER.IMS_PER_BATCH", a.batch_size,
              "SOLVER.BASE_LR", float(a.lr), "SOLVER.WARMUP_EPOCHS", 0.5, "SOLVER.SCHEDULE", "cosine",
              "INPUT.CROP_SCALE_MIN", 0.35, "DATALOADER.NUM_WORKERS", a.num_workers, "MODEL.DEVICE", "cpu",
              "PROGRESS", False, "LOG_PERIOD", 10, "SOLVER.CHECKPOINT_PERIOD", 100000]
    runs = [(f"{a.arch}_dct", ["INPUT.DCT.CHANNELS", json.dumps([a.channels]), "INPUT.SIZE", a.image_size],
             f"DCT-{a.channels}, {a.image_size}px -> {a.image_size // 8}x{a.image_size // 8}x{a.channels}"),
            (a.arch, ["INPUT.SIZE", a.rgb_size], f"RGB, {a.rgb_size}px")]
    rows = []
    for arch, extra, label in runs:
        out = os.path.join(a.output, arch)
        opts = [*recipe, "MODEL.ARCH", arch, "OUTPUT_DIR", out, *extra]
        args = default_argument_parser().parse_args([str(v) for v in opts])
        start = time.time()
        res = main(args)
        rows.append({"arch": arch, "input": label, "top1": res["top1"], "top5": res["top5"],
                     "val_images": res["num_images"], "minutes": (time.time() - start) / 60})
    with open(os.path.join(a.output, "results.json"), "w", encoding="utf-8") as f:
        json.dump(rows, f, indent=1)
    print(f"\nFashion-MNIST, {a.train_per_class * 10} training / {a.val_per_class * 10} validation JPEGs, "
          f"{a.epochs:g} epochs, batch {a.batch_size}, SGD lr {a.lr} cosine, same recipe:")
    print("| model | input | top-1 | top-5 | train+eval min |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['arch']} | {r['input']} | {r['top1']:.2f} | {r['top5']:.2f} | {r['minutes']:.1f} |")
