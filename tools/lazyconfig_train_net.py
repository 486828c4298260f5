#!/usr/bin/env python
"""Train / evaluate freqdet's LazyConfig (``.py``) configs, as Detectron2's tools/lazyconfig_train_net.py.

    python tools/lazyconfig_train_net.py --config-file configs/COCO-InstanceSegmentation/mask_rcnn_dct24_R_50_FPN_1x.py \\
        --num-gpus 8 model.pixel_mean.path=datasets/coco/dct_stats_s2.json
    python tools/lazyconfig_train_net.py --config-file ... --eval-only train.init_checkpoint=output/model_final.pth
    python tools/lazyconfig_train_net.py --config-file ... --resume

The logic is :mod:`freqdet.detection.lazy_train`.
"""
from detectron2.engine import default_argument_parser, launch

import freqdet  # noqa: F401  (registers the demo datasets)
from freqdet.detection.lazy_train import main

if __name__ == "__main__":
    args = default_argument_parser().parse_args()
    launch(main, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
           dist_url=args.dist_url, args=(args,))
