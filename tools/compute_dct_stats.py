#!/usr/bin/env python
"""Per-channel mean/std of the DCT input over a registered dataset, for MODEL.PIXEL_STATS_FILE.

Images go through the training DCTDatasetMapper of the config (same augmentation, s and
input format), so the statistics are those of what the model sees. By default all 192
channels are computed, so one file serves every channel subset at this s.

    python tools/compute_dct_stats.py --config-file configs/Demo/mask_rcnn_dct24_R_50_FPN_demo.yaml \
        --dataset freqdet_demo_train --output output/demo/dct_stats.json
"""
import argparse
import sys

import freqdet  # noqa: F401  (registers the demo datasets)
from freqdet.detection.config import input_spec, load_config
from freqdet.detection.stats import dataset_dct_stats, stats_identity
from freqdet.core.stats import save_dct_stats


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", required=True)
    p.add_argument("--dataset", help="registered dataset name (default: the config's first DATASETS.TRAIN)")
    p.add_argument("--output", required=True, help="JSON file to write")
    p.add_argument("--selected-only", action="store_true",
                   help="only the config's INPUT.DCT.CHANNELS (default: all 192 channels)")
    p.add_argument("--max-images", type=int, default=0, help="use the first N images (0: all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random augmentations")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides KEY VALUE ...")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config_file, args.opts)
    spec = input_spec(cfg)
    selected = spec.channels
    if not args.selected_only:
        cfg.INPUT.DCT.CHANNELS = ["192"]
    dataset = args.dataset or cfg.DATASETS.TRAIN[0]
    chans, mean, std, n = dataset_dct_stats(cfg, dataset, args.max_images, args.seed)
    save_dct_stats(args.output, chans, mean, std, identity=stats_identity(cfg, dataset),  # user-made: no "auto"
                   dataset=dataset, num_images=n, upsample=spec.upsample, input_format=cfg.INPUT.FORMAT,
                   config=args.config_file)
    print(f"wrote {args.output} ({len(chans)} channels, {n} images, s={spec.upsample})")
    print("config lines:")
    print(f'  MODEL:\n    PIXEL_STATS_FILE: "{args.output}"')
    print(f"  or inline, for the config's {len(selected)} channels:")
    table = dict(zip(chans, zip(mean, std)))
    picked = [table[c] for c in selected]
    print(f"    PIXEL_MEAN: [{', '.join(f'{m:.4f}' for m, _ in picked)}]")
    print(f"    PIXEL_STD: [{', '.join(f'{s:.4f}' for _, s in picked)}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
