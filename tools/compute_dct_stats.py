#!/usr/bin/env python
"""Per-channel mean/std of the DCT input over a dataset, for MODEL.PIXEL_STATS_FILE (yacs) or
model.pixel_mean.path (LazyConfig).

Images go through the training DCTDatasetMapper of the config (same augmentation, s and
input format), so the statistics are those of what the model sees. By default all 192
channels are computed, so one file serves every channel subset at this s.

    python tools/compute_dct_stats.py --config-file configs/Demo/mask_rcnn_dct24_R_50_FPN_demo.yaml \\
        --dataset freqdet_demo_train --output output/demo/dct_stats.json
    python tools/compute_dct_stats.py --config-file configs/Demo/mask_rcnn_dct24_R_50_FPN_demo.py \\
        --dataset my_train=data/train.json:data/train --output output/my_dct_stats.json

The config is a yacs .yaml (overrides KEY VALUE) or a LazyConfig .py (overrides key=value).
"""
import argparse
import dataclasses
import sys

# freqdet first: it imports Detectron2 without the known harmless warnings (freqdet.core.known_warnings)
from freqdet.core.known_warnings import quiet_known_warnings
from freqdet.core.stats import save_dct_stats
from freqdet.detection.stats import dataset_identity, mapper_dct_stats, mapper_input_identity
from freqdet.detection.tool_config import LAZY, ToolConfigError, load_tool_config, register_datasets


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", required=True, metavar="FILE", help="yacs .yaml or LazyConfig .py")
    p.add_argument("--dataset", metavar="NAME[=JSON:IMAGE_ROOT]",
                   help="the dataset to measure: a registered name, or NAME=JSON:IMAGE_ROOT to register a "
                        "COCO-format json as NAME first (default: the config's first training dataset)")
    p.add_argument("--output", required=True, help="JSON file to write")
    p.add_argument("--selected-only", action="store_true",
                   help="only the config's channels (INPUT.DCT.CHANNELS; default: all 192 channels)")
    p.add_argument("--max-images", type=int, default=0, help="use the first N images (0: all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random augmentations")
    p.add_argument("opts", nargs=argparse.REMAINDER,
                   help="config overrides, last: KEY VALUE pairs (yacs .yaml) or key=value (LazyConfig .py)")
    return p, p.parse_args(argv)


def main(argv=None):
    quiet_known_warnings()
    parser, args = parse_args(argv)
    try:
        dataset = None
        if args.dataset:
            dataset = register_datasets([args.dataset])[0] if "=" in args.dataset else args.dataset
        tc = load_tool_config(args.config_file, args.opts)
        dataset = dataset or (tc.train_datasets[0] if tc.train_datasets else None)
        if dataset is None:
            raise ToolConfigError(f"{args.config_file} names no training dataset: give --dataset")
    except ToolConfigError as e:
        parser.error(str(e))
    spec = tc.build_mapper(is_train=True).input_spec
    measured = spec if args.selected_only else dataclasses.replace(spec, channels="192")
    mapper = tc.build_mapper(is_train=True, input_spec=measured)
    chans, mean, std, n = mapper_dct_stats(mapper, dataset, args.max_images, args.seed)
    identity = {"dataset": dataset_identity(dataset), **mapper_input_identity(mapper)}  # user-made: no "auto"
    save_dct_stats(args.output, chans, mean, std, identity=identity, dataset=dataset, num_images=n,
                   upsample=spec.upsample, input_format=tc.input_format, config=args.config_file)
    print(f"wrote {args.output} ({len(chans)} channels, {n} images of {dataset}, s={spec.upsample})")
    table = dict(zip(chans, zip(mean, std)))
    picked = [table[c] for c in spec.channels]
    if tc.kind == LAZY:
        print(f"config override: model.pixel_mean.path={args.output}")
        print(f"  or inline, for the config's {len(picked)} channels:")
        print(f"    model.pixel_mean=[{','.join(f'{m:.4f}' for m, _ in picked)}]")
        print(f"    model.pixel_std=[{','.join(f'{s:.4f}' for _, s in picked)}]")
        return 0
    print("config lines:")
    print(f'  MODEL:\n    PIXEL_STATS_FILE: "{args.output}"')
    print(f"  or inline, for the config's {len(picked)} channels:")
    print(f"    PIXEL_MEAN: [{', '.join(f'{m:.4f}' for m, _ in picked)}]")
    print(f"    PIXEL_STD: [{', '.join(f'{s:.4f}' for _, s in picked)}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
