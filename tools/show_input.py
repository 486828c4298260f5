#!/usr/bin/env python
"""Write, for an image and a config, the image beside what the network sees (one PNG).

    python tools/show_input.py --config-file configs/COCO-InstanceSegmentation/mask_rcnn_dct24_s1_R_50_FPN_1x.yaml \
        --input photo.jpg --output docs/network_input.png INPUT.MIN_SIZE_TEST 320
    python tools/show_input.py --config-file configs/COCO-InstanceSegmentation/mask_rcnn_dct24_s1_R_50_FPN_1x.py \
        --input photo.jpg --output network_input.png dataloader.test.mapper.augmentations.0.short_edge_length=320

Left: the image after the config's test-time resize (what an RGB model would get). Right: the
image rebuilt from the config's DCT channels at that size, every other channel zero
(``freqdet.core.dct_to_image``): the low-pass view a DCT model's backbone gets, and the picture
FreqRCNN draws for VIS_PERIOD > 0. Above each panel a label names it. Config overrides come last:
KEY VALUE for a yacs .yaml, key=value for a LazyConfig .py.
"""
import argparse
import dataclasses
import sys

# freqdet first: it imports Detectron2 without the known harmless warnings (freqdet.core.known_warnings)
from freqdet.core import dct_to_image, image_to_dct
from freqdet.core.known_warnings import quiet_known_warnings
from freqdet.detection.inference import build_test_input
from freqdet.detection.mapper import read_image
from freqdet.detection.tool_config import ToolConfig, ToolConfigError, load_tool_config

import cv2
import numpy as np

HEADER, GAP = 28, 8  # label strip height and gap between panels, in pixels


def network_view(image: np.ndarray, tc: ToolConfig) -> tuple[np.ndarray, np.ndarray]:
    """(resized RGB image, RGB reconstruction of its DCT input) for an image in the config's input format."""
    spec, fmt = tc.input_spec, tc.input_format
    # The test mapper with the DCT left to the model hands the resized image itself.
    mapper = tc.build_mapper(is_train=False, input_spec=dataclasses.replace(spec, on_device=True, from_source=False))
    resized = build_test_input(mapper, image)["image"].permute(1, 2, 0).numpy()
    coeffs = image_to_dct(resized, spec.channels, spec.upsample, np.float32, fmt)
    seen = dct_to_image(coeffs, spec.channels, "RGB", spec.upsample, resized.shape[:2])
    rgb = resized[:, :, ::-1] if fmt == "BGR" else resized
    return np.ascontiguousarray(rgb), seen


def labelled(panel: np.ndarray, text: str) -> np.ndarray:
    strip = np.full((HEADER, panel.shape[1], 3), 255, np.uint8)
    cv2.putText(strip, text, (4, HEADER - 9), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([strip, panel])


def main(argv=None):
    quiet_known_warnings()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", required=True, metavar="FILE", help="yacs .yaml or LazyConfig .py")
    p.add_argument("--input", required=True, help="an image file")
    p.add_argument("--output", required=True, help="PNG to write")
    p.add_argument("opts", nargs=argparse.REMAINDER,
                   help="config overrides, last: KEY VALUE pairs (yacs .yaml) or key=value (LazyConfig .py)")
    p.add_argument("--opts", dest="deprecated_opts", nargs=argparse.REMAINDER, default=[],
                   help="deprecated: the overrides, written last without it")
    args = p.parse_args(argv)
    if args.deprecated_opts:
        print("note: --opts is deprecated; write the config overrides last, without it", file=sys.stderr)
    try:
        tc = load_tool_config(args.config_file, [*(args.opts or []), *args.deprecated_opts])
    except ToolConfigError as e:
        p.error(str(e))
    rgb, seen = network_view(read_image(args.input, format=tc.input_format), tc)
    h, w = rgb.shape[:2]
    spec = tc.input_spec
    c, s, grid = spec.num_channels, spec.upsample, spec.grid_size(h, w)
    gap = np.full((h + HEADER, GAP, 3), 255, np.uint8)
    picture = np.concatenate([
        labelled(rgb, f"image {w}x{h}"), gap,
        labelled(seen, f"network input: {c} DCT channels, s={s}, {c}x{grid[0]}x{grid[1]}"),
    ], axis=1)
    if not cv2.imwrite(args.output, picture[:, :, ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise OSError(f"could not write {args.output}")
    print(f"wrote {args.output} ({picture.shape[1]}x{picture.shape[0]})")


if __name__ == "__main__":
    main()
