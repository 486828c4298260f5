#!/usr/bin/env python
"""Run a trained frequency-domain config + weights on images and write visualised predictions.

    python tools/demo.py --config-file configs/Demo/mask_rcnn_dct24_R_50_FPN_demo.yaml \
        --input datasets/demo/val --output output/demo/predictions \
        MODEL.WEIGHTS output/demo/train/model_final.pth
    python tools/demo.py --config-file configs/Demo/mask_rcnn_dct24_R_50_FPN_demo.py \
        --input photo.jpg --output pred.png train.init_checkpoint=output/demo/lazy/model_final.pth

Config overrides come last (KEY VALUE for a yacs .yaml, key=value for a LazyConfig .py); they may
directly follow the --input paths. The class names are those of ``--dataset NAME=JSON:IMAGE_ROOT``
when given, else of the config's first test dataset.
"""
import argparse
import glob
import os
import sys

# freqdet first: it imports Detectron2 without the known harmless warnings (freqdet.core.known_warnings)
from freqdet.core.known_warnings import quiet_known_warnings
from freqdet.detection.mapper import read_image
from freqdet.detection.tool_config import (
    ToolConfigError,
    add_dataset_argument,
    load_tool_config,
    register_datasets,
    split_overrides,
)

import cv2
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.utils.visualizer import Visualizer

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


def class_metadata(name):
    """Detectron2 metadata of dataset ``name`` with its ``thing_classes`` (a COCO json registered by
    ``register_coco_instances`` gets them when it is first read)."""
    if not name:
        return MetadataCatalog.get("__unused")
    meta = MetadataCatalog.get(name)
    if not meta.get("thing_classes") and name in DatasetCatalog.list():
        DatasetCatalog.get(name)  # load_coco_json sets thing_classes
    return meta


def visualize(predictor, input_format, meta, path, threshold):
    """RGB drawing of the predictions on the image file at ``path``."""
    image = read_image(path, format=input_format)
    instances = predictor(image)["instances"].to("cpu")
    instances = instances[instances.scores >= threshold]
    rgb = image[:, :, ::-1] if input_format == "BGR" else image
    return Visualizer(rgb, meta, scale=1.0).draw_instance_predictions(instances).get_image()


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", required=True, metavar="FILE", help="yacs .yaml or LazyConfig .py")
    p.add_argument("--input", nargs="+", required=True, help="image files, folders or globs")
    p.add_argument("--output", required=True, help="folder for <name>.png, or a .png to tile all images into")
    p.add_argument("--max-images", type=int, default=0, help="only the first N images (0: all)")
    p.add_argument("--confidence-threshold", type=float, default=0.5)
    add_dataset_argument(p, help="register a COCO-format json dataset (NAME=JSON:IMAGE_ROOT; repeatable); the "
                                 "first one's class names label the drawings")
    p.add_argument("opts", nargs=argparse.REMAINDER,
                   help="config overrides, last: KEY VALUE pairs (yacs .yaml) or key=value (LazyConfig .py)")
    p.add_argument("--opts", dest="deprecated_opts", nargs=argparse.REMAINDER, default=[],
                   help="deprecated: the overrides, written last without it")
    args = p.parse_args(argv)
    args.input, leading = split_overrides(args.input)  # --input a.jpg MODEL.WEIGHTS w.pth
    args.opts = [*leading, *(args.opts or []), *args.deprecated_opts]
    if args.deprecated_opts:
        print("note: --opts is deprecated; write the config overrides last, without it", file=sys.stderr)
    if not args.input:
        p.error("--input: no image paths before the config overrides")
    return p, args


def main(argv=None):
    quiet_known_warnings()
    parser, args = parse_args(argv)
    try:
        registered = register_datasets(args.dataset)
        tc = load_tool_config(args.config_file, args.opts)
    except ToolConfigError as e:
        parser.error(str(e))
    names = registered or list(tc.test_datasets)
    meta = class_metadata(names[0] if names else None)
    predictor = tc.build_predictor()
    files = list_images(args.input)[: args.max_images or None]
    drawings = [visualize(predictor, tc.input_format, meta, f, args.confidence_threshold) for f in files]
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
