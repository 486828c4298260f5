#!/usr/bin/env python
"""Train / evaluate frequency-domain R-CNNs with Detectron2 (one or many GPUs or CPU processes).

    python tools/train_net.py --config-file configs/COCO-InstanceSegmentation/mask_rcnn_dct24_R_50_FPN_1x.yaml \
        --num-gpus 8
    python tools/train_net.py --config-file ... --eval-only MODEL.WEIGHTS output/model_final.pth

The trainer is :class:`freqdet.detection.trainer.Trainer` (Detectron2's DefaultTrainer with the
DCT mapper); a missing MODEL.PIXEL_STATS_FILE is computed first (main process) and cached.
"""
from detectron2.engine import default_argument_parser, launch

from freqdet.detection.trainer import main

if __name__ == "__main__":
    args = default_argument_parser().parse_args()
    print("Command Line Args:", args)
    launch(main, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
           dist_url=args.dist_url, args=(args,))
