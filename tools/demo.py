#!/usr/bin/env python
"""Run a trained frequency-domain config + weights on images and write visualised predictions.

    python tools/demo.py --config-file configs/Demo/mask_rcnn_dct24_R_50_FPN_demo.yaml \
        --input datasets/demo/val --output output/demo/predictions \
        --opts MODEL.WEIGHTS output/demo/train/model_final.pth
"""
import argparse
import glob
import os
import sys

import cv2
from detectron2.data import MetadataCatalog
from detectron2.data.detection_utils import read_image
from detectron2.utils.visualizer import Visualizer

import freqdet  # noqa: F401  (registers models and demo datasets)
from freqdet.detection.config import load_config
from freqdet.detection.inference import DCTPredictor

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp")


def list_images(inputs):
    files = []
    for item in inputs:
        if os.path.isdir(item):
            files += sorted(f for f in glob.glob(os.path.join(item, "*")) if f.lower().endswith(IMAGE_EXTS))
        elif os.path.isfile(item):
            files.append(item)
        else:
            files += sorted(glob.glob(item))
    if not files:
        raise FileNotFoundError(f"no images found in {inputs}")
    return files


def visualize(predictor, cfg, path, threshold):
    """RGB drawing of the predictions on the image file at ``path``."""
    image = read_image(path, format=cfg.INPUT.FORMAT)
    instances = predictor(image)["instances"].to("cpu")
    instances = instances[instances.scores >= threshold]
    rgb = image[:, :, ::-1] if cfg.INPUT.FORMAT == "BGR" else image
    meta = MetadataCatalog.get(cfg.DATASETS.TEST[0] if cfg.DATASETS.TEST else "__unused")
    return Visualizer(rgb, meta, scale=1.0).draw_instance_predictions(instances).get_image()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", required=True)
    p.add_argument("--input", nargs="+", required=True, help="image files, folders or globs")
    p.add_argument("--output", required=True, help="folder for <name>.png, or a .png to tile all images into")
    p.add_argument("--max-images", type=int, default=0, help="only the first N images (0: all)")
    p.add_argument("--confidence-threshold", type=float, default=0.5)
    p.add_argument("--opts", nargs=argparse.REMAINDER, default=[], help="config overrides KEY VALUE ...")
    args = p.parse_args(argv)
    cfg = load_config(args.config_file, args.opts)
    cfg.freeze()
    predictor = DCTPredictor(cfg)
    files = list_images(args.input)[: args.max_images or None]
    drawings = [visualize(predictor, cfg, f, args.confidence_threshold) for f in files]
    if args.output.lower().endswith(".png"):  # one tiled sheet
        import numpy as np

        h = max(d.shape[0] for d in drawings)
        tiles = [np.pad(d, ((0, h - d.shape[0]), (0, 4), (0, 0)), constant_values=255) for d in drawings]
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        cv2.imwrite(args.output, np.concatenate(tiles, axis=1)[:, :, ::-1])
        print(f"wrote {args.output} ({len(files)} images)")
    else:
        os.makedirs(args.output, exist_ok=True)
        for f, d in zip(files, drawings):
            out = os.path.join(args.output, os.path.splitext(os.path.basename(f))[0] + ".png")
            cv2.imwrite(out, d[:, :, ::-1])
        print(f"wrote {len(files)} images to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
