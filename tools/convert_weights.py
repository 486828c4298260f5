#!/usr/bin/env python
"""Convert an ImageNet ResNet-50 checkpoint into a DCT backbone initialisation (.pkl for MODEL.WEIGHTS).

    python tools/convert_weights.py resnet50-0676ba61.pth --channels 24 --output weights/R-50-dct24.pkl
    python tools/convert_weights.py R-50.pkl --channels 64 --output weights/R-50-dct64.pkl
    python tools/convert_weights.py output/cls_dct24/model_best.pth --channels 24 --output weights/R-50-dct24.pkl

Sources: torchvision (.pth), Detectron2/Caffe2 model zoo (.pkl), or a freqdet DCT
ResNet-50 classifier (torchvision names without the stem, optionally under "model").
"""
import argparse
import os
import sys

from freqdet.detection.weights import convert_to_dct_backbone, load_state_dict, save_detectron2_pkl
from freqdet.core import parse_channels


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", help="source checkpoint (.pth/.pt/.pkl)")
    p.add_argument("--channels", required=True, help="DCT channel subset of the target, e.g. 24, 64T, 192 or 0,1,64")
    p.add_argument("--output", required=True, help="output .pkl")
    args = p.parse_args(argv)
    if not os.path.isfile(args.input):
        p.error(f"{args.input} does not exist")
    c = len(parse_channels(args.channels))
    weights, notes = convert_to_dct_backbone(load_state_dict(args.input), c, source=args.input)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    save_detectron2_pkl(weights, args.output)
    for n in notes:
        print(" -", n)
    print(f"wrote {args.output}: {len(weights)} tensors for a {c}-channel DCT ResNet")
    return 0


if __name__ == "__main__":
    sys.exit(main())
