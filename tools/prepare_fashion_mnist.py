#!/usr/bin/env python
"""Write Debian's Fashion-MNIST as a JPEG ImageFolder (train/ and val/) for the classification demo."""
import argparse

from freqdet.synthetic.fashion_mnist import DEBIAN_DIR, write_image_folder


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--output", default="datasets/fashion_mnist")
    p.add_argument("--size", type=int, default=112, help="side in pixels (28 upscaled; DCT needs >= 32)")
    p.add_argument("--train-per-class", type=int, default=None, help="default: all 6000")
    p.add_argument("--val-per-class", type=int, default=None, help="default: all 1000")
    p.add_argument("--source", default=DEBIAN_DIR)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    counts = write_image_folder(a.output, a.size, {"train": a.train_per_class, "val": a.val_per_class},
                                a.source, a.seed)
    print(f"wrote {counts['train']} training and {counts['val']} validation images to {a.output}")
    return counts


if __name__ == "__main__":
    main()
