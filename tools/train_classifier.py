#!/usr/bin/env python
"""Train or evaluate an ImageNet classifier on DCT (or RGB) inputs, on one or many GPUs/machines.

    python tools/train_classifier.py --data /datasets/imagenet --arch resnet50_dct --channels 24 \\
        --num-gpus 8 --output-dir output/r50_dct24
    python tools/train_classifier.py --data /datasets/imagenet --arch resnet50_dct --channels 24 \\
        --eval-only --weights output/r50_dct24/model_final.pth

All logic lives in freqdet.classification.engine; this only launches it (Detectron2 launch/DDP).
"""
from detectron2.engine import launch

from freqdet.classification.engine import argument_parser, main

if __name__ == "__main__":
    args = argument_parser().parse_args()
    launch(main, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
           dist_url=args.dist_url, args=(args,))
