#!/usr/bin/env python
"""Generate the embedded demo dataset (shapes on real photos, COCO format).

Skips the work when the output already holds a complete dataset made with the same
parameters (pass --force to regenerate). Registered in Detectron2 as
``freqdet_demo_train`` / ``freqdet_demo_val`` when it lives at the default root
(``datasets/demo`` or ``$FREQDET_DATASETS/demo``).
"""
import argparse
import time

from freqdet.synthetic import coco_writer


def parse_size(text):
    """``256`` -> (256, 256); ``240x320`` -> (240, 320) (height x width)."""
    parts = [int(p) for p in text.lower().split("x")]
    if len(parts) not in (1, 2) or min(parts) < 32:
        raise argparse.ArgumentTypeError(f"image size must be S or HxW with sides >= 32, got {text!r}")
    return (parts[0], parts[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default=coco_writer.default_demo_root(), help="dataset root (default: %(default)s)")
    parser.add_argument("--num-train", type=int, default=200)
    parser.add_argument("--num-val", type=int, default=50)
    parser.add_argument("--image-size", type=parse_size, default=(256, 256), help="S or HxW (default 256)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="regenerate even if complete")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    if coco_writer.ensure_demo_dataset(args.output, args.num_train, args.num_val, args.image_size, args.seed,
                                       force=args.force):
        print(f"generated {args.output} in {time.perf_counter() - start:.1f} s")
    else:
        print(f"{args.output}: complete demo dataset already there (use --force to regenerate)")
    for split, s in coco_writer.summarize(args.output).items():
        per_class = ", ".join(f"{k} {v}" for k, v in s["per_class"].items())
        print(f"{split}: {s['images']} images, {s['instances']} instances ({per_class}); "
              f"masks: {s['polygon']} polygon, {s['rle']} RLE")


if __name__ == "__main__":
    main()
