#!/usr/bin/env python
"""FLOPs and parameters (fvcore) of the DCT classifiers vs their RGB torchvision baselines.

The paper's comparison: a DCT-C model on a 448x448 image (56x56xC input) vs the RGB model
on 224x224. fvcore counts one fused multiply-add as one flop (the "GFLOPs" of papers).

    python benchmarks/flops_classification.py
"""
import argparse
import logging

import torch
import torchvision
from fvcore.nn import FlopCountAnalysis, parameter_count

from freqdet.classification import mobilenet_v2_dct, resnet50_dct
from freqdet.core import parse_channels


def count(model, shape):
    model.eval()
    with torch.no_grad():
        flops = FlopCountAnalysis(model, torch.zeros(1, *shape))
        flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return flops.total() / 1e9, parameter_count(model)[""] / 1e6


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--channels", nargs="*", default=["24", "64", "192"])
    a = p.parse_args()
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    rows = [("ResNet-50", "RGB 224x224", "3x224x224", *count(torchvision.models.resnet50(), (3, 224, 224)))]
    for ch in a.channels:
        c = len(parse_channels(ch))
        rows.append(("ResNet-50", f"DCT-{ch} 448x448", f"{c}x56x56", *count(resnet50_dct(ch), (c, 56, 56))))
    rows.append(("MobileNetV2", "RGB 224x224", "3x224x224", *count(torchvision.models.mobilenet_v2(), (3, 224, 224))))
    for ch in a.channels:
        c = len(parse_channels(ch))
        rows.append(("MobileNetV2", f"DCT-{ch} 896x896", f"{c}x112x112", *count(mobilenet_v2_dct(ch), (c, 112, 112))))
        rows.append(("MobileNetV2", f"DCT-{ch} 448x448", f"{c}x56x56", *count(mobilenet_v2_dct(ch), (c, 56, 56))))
    print("| model | image | network input | GFLOPs (fvcore, 1 MAC = 1 flop) | params (M) |")
    print("|---|---|---|---|---|")
    for model, image, shape, gflops, params in rows:
        print(f"| {model} | {image} | {shape} | {gflops:.3f} | {params:.2f} |")


if __name__ == "__main__":
    main()
