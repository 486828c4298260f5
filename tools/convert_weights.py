#!/usr/bin/env python
"""Convert an ImageNet ResNet-50 checkpoint into a DCT backbone initialisation (.pkl for MODEL.WEIGHTS).

Slice mode (default; the paper's way): drop the RGB stem, keep the first C input channels of
res2's first convolutions. The DCT channels go straight into res2 (MODEL.DCT_STEM.NAME none).

    python tools/convert_weights.py resnet50-0676ba61.pth --channels 24 --output weights/R-50-dct24.pkl
    python tools/convert_weights.py R-50.pkl --channels 64 --output weights/R-50-dct64.pkl
    python tools/convert_weights.py output/cls_dct24/model_best.pth --channels 24 --output weights/R-50-dct24.pkl

Sources: torchvision (.pth), Detectron2/Caffe2 model zoo (.pkl), a freqdet DCT ResNet-50 classifier
(torchvision names without the stem, optionally under "model"), or the paper's released
ResNetDCT_Upscaled_Static checkpoints (model.0..3 = layer1..4, under "state_dict", "module." prefixes).

Fitted-stem mode (--fit-stem): res2..res5 keep the RGB weights unchanged and the config's learned
stem (MODEL.DCT_STEM, norm MODEL.RESNETS.NORM) is fitted on unlabelled photos to reproduce the RGB
stem's output from the DCT input (normalised with the config's MODEL.PIXEL_STATS_FILE). The per-channel
R^2 on held-out photos is printed and written beside the output (OUT.fit.json):

    python tools/convert_weights.py R-50.pkl --fit-stem --images datasets/coco/train2017 --max-images 500 \\
        --config-file configs/COCO-InstanceSegmentation/mask_rcnn_dct24_R_50_FPN_1x.yaml \\
        --output weights/R-50-dct24-stem.pkl MODEL.DCT_STEM.NAME conv2

Config overrides (KEY VALUE) come last, as in Detectron2's tools.
"""
import argparse
import json
import os
import sys

# freqdet first: it imports Detectron2 without the known harmless warnings (freqdet.core.known_warnings)
from freqdet.core.known_warnings import quiet_known_warnings
from freqdet.core import parse_channels
from freqdet.detection.stem_fit import SOURCE_INPUTS, FitOptions, fitted_stem_backbone, source_input_of
from freqdet.detection.weights import convert_to_dct_backbone, load_state_dict, save_detectron2_pkl

FIT = FitOptions()  # the fit's defaults


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", help="source checkpoint (.pth/.pt/.pkl)")
    p.add_argument("--output", required=True, help="output .pkl")
    p.add_argument("--channels", help="slice mode: DCT channel subset of the target, e.g. 24, 64T, 192 or 0,1,64")
    fit = p.add_argument_group("fitted-stem mode")
    fit.add_argument("--fit-stem", action="store_true", help="fit the config's MODEL.DCT_STEM to the RGB stem")
    fit.add_argument("--config-file", metavar="FILE", help="the detector's yacs .yaml (channels, s, stem, norm, stats)")
    fit.add_argument("--images", metavar="DIR", help="folder of unlabelled photos (searched recursively)")
    fit.add_argument("--max-images", type=int, default=FIT.max_images,
                     help="use N of them, picked at random (default %(default)s: all)")
    fit.add_argument("--source-input", choices=("auto", "msra", "torchvision"), default="auto",
                     help="the RGB network's input: msra = BGR minus [103.53,116.28,123.675] (Detectron2's R-50.pkl), "
                          "torchvision = RGB with ImageNet mean/std; auto: torchvision for torchvision key names")
    fit.add_argument("--iterations", type=int, default=FIT.iterations, help="Adam steps (default %(default)s)")
    fit.add_argument("--batch-size", type=int, default=FIT.batch_size, help="crops per step (default %(default)s)")
    fit.add_argument("--crop", type=int, default=FIT.crop,
                     help="side of the square training crops, a multiple of 16 (default %(default)s)")
    fit.add_argument("--fit-size", type=int, default=FIT.fit_size,
                     help="images are resized to this short side first (default %(default)s)")
    fit.add_argument("--held-out", type=float, default=FIT.held_out,
                     help="fraction of images kept for the R^2 report (default %(default)s)")
    fit.add_argument("--lr", type=float, default=FIT.lr,
                     help="Adam's learning rate, warmed up then cosine-decayed (default %(default)s)")
    fit.add_argument("--seed", type=int, default=FIT.seed, help="image split, crops and init (default %(default)s)")
    p.add_argument("opts", nargs="*", help="--fit-stem: config overrides, last: KEY VALUE pairs")
    args = p.parse_intermixed_args(argv)  # the source comes first, the overrides last
    if not os.path.isfile(args.input):
        p.error(f"{args.input} does not exist")
    if args.fit_stem:
        for flag in ("config_file", "images"):
            if not getattr(args, flag):
                p.error(f"--fit-stem needs --{flag.replace('_', '-')}")
        if args.channels:
            p.error("--fit-stem takes the channels from the config (INPUT.DCT.CHANNELS); drop --channels")
        if not args.config_file.endswith((".yaml", ".yml")):
            p.error(f"--config-file {args.config_file}: --fit-stem reads a yacs .yaml (MODEL.DCT_STEM, INPUT.DCT, "
                    "MODEL.PIXEL_STATS_FILE); use the LazyConfig's yacs twin")
    elif not args.channels:
        p.error("give --channels (slice mode) or --fit-stem with --config-file and --images")
    elif args.opts:
        p.error(f"config overrides {args.opts[:2]} ... are for --fit-stem")
    return p, args


def fit_stem(args, state):
    from freqdet.detection.config import load_config

    kind = source_input_of(state) if args.source_input == "auto" else args.source_input
    options = FitOptions(iterations=args.iterations, batch_size=args.batch_size, crop=args.crop,
                         fit_size=args.fit_size, held_out=args.held_out, lr=args.lr, seed=args.seed,
                         max_images=args.max_images)
    cfg = load_config(args.config_file, args.opts)
    weights, report = fitted_stem_backbone(state, cfg, args.images, SOURCE_INPUTS[kind], options, args.config_file)
    report.update(source=args.input, source_kind=kind, config_file=args.config_file, overrides=list(args.opts))
    report_path = os.path.splitext(args.output)[0] + ".fit.json"
    return weights, report, report_path


def kind_text(report) -> str:
    src = report["source_input"]
    return f"{report['source_kind']} ({src['format']}, mean {list(src['mean'])}, std {list(src['std'])}; --source-input)"


def main(argv=None):
    quiet_known_warnings()
    parser, args = parse_args(argv)
    state = load_state_dict(args.input)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    if args.fit_stem:
        try:
            weights, report, report_path = fit_stem(args, state)
        except ValueError as e:
            parser.error(str(e))
        save_detectron2_pkl(weights, args.output)
        with open(report_path, "w") as f:
            json.dump(report, f, indent=1)
        r2, images = report["r2"], report["images"]
        print(f"RGB stem input: {kind_text(report)}")
        print(f"held-out R^2 of the {report['stem']} stem vs the RGB stem over {images['held_out']} images "
              f"(fitted on {images['train']}): mean {r2['mean']:.4f}, min {r2['min']:.4f} "
              f"({len(r2['per_channel'])} channels, {report['seconds']:.0f} s)")
        print(f"wrote {args.output}: res2..res5 of {args.input} unchanged and the fitted stem; report {report_path}")
        return 0
    c = len(parse_channels(args.channels))
    weights, notes = convert_to_dct_backbone(state, c, source=args.input)
    save_detectron2_pkl(weights, args.output)
    for n in notes:
        print(" -", n)
    print(f"wrote {args.output}: {len(weights)} tensors for a {c}-channel DCT ResNet")
    return 0


if __name__ == "__main__":
    sys.exit(main())
