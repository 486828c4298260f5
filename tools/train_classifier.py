#!/usr/bin/env python
"""Train or evaluate an ImageNet classifier on DCT (or RGB) inputs, on one or many GPUs/machines.

    python tools/train_classifier.py --num-gpus 8 DATASETS.ROOT /datasets/imagenet \\
        MODEL.ARCH resnet50_dct INPUT.DCT.CHANNELS '["24"]' OUTPUT_DIR output/r50_dct24
    python tools/train_classifier.py --eval-only DATASETS.ROOT /datasets/imagenet \\
        MODEL.ARCH resnet50_dct MODEL.WEIGHTS output/r50_dct24/model_final.pth OUTPUT_DIR output/r50_dct24_eval

Every setting is a config key (freqdet/classification/config.py; defaults: the paper's ImageNet
recipe), set by --config-file and/or KEY VALUE pairs. The trainer is
freqdet.classification.trainer; this only parses and launches it (Detectron2 launch/DDP).
"""
from detectron2.engine import default_argument_parser, launch

from freqdet.classification.trainer import main

if __name__ == "__main__":
    args = default_argument_parser().parse_args()
    launch(main, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
           dist_url=args.dist_url, args=(args,))
