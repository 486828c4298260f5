#!/usr/bin/env python
"""Train / evaluate frequency-domain R-CNNs with Detectron2 (one or many GPUs or CPU processes).

    python tools/train_net.py --config-file configs/COCO-InstanceSegmentation/mask_rcnn_dct24_R_50_FPN_1x.yaml \\
        --num-gpus 8
    python tools/train_net.py --config-file ... --eval-only MODEL.WEIGHTS output/model_final.pth
    python tools/train_net.py --config-file configs/Demo/mask_rcnn_dct24_R_50_FPN_demo.yaml \\
        --dataset my_train=data/train.json:data/train DATASETS.TRAIN '("my_train",)'

A yacs ``.yaml`` trains with :class:`freqdet.detection.trainer.Trainer` (Detectron2's DefaultTrainer
with the DCT mapper; overrides are KEY VALUE pairs); a LazyConfig ``.py`` with the LazyConfig
trainer of tools/lazyconfig_train_net.py (overrides are key=value). Either way a missing statistics
file is computed first (main process) and cached, and ``--dataset NAME=JSON:IMAGE_ROOT`` registers
COCO-format json datasets under NAME.
"""
# freqdet first: it imports Detectron2 without the known harmless warnings (freqdet.core.known_warnings)
from freqdet.core.known_warnings import quiet_known_warnings
from freqdet.detection.tool_config import ToolConfigError, argument_parser, check_tool_args, training_main

from detectron2.engine import launch


def main(argv=None):
    quiet_known_warnings()
    parser = argument_parser()
    args = parser.parse_args(argv)
    try:
        check_tool_args(args)
    except ToolConfigError as e:
        parser.error(str(e))
    print("Command Line Args:", args)
    launch(training_main(args.config_file), args.num_gpus, num_machines=args.num_machines,
           machine_rank=args.machine_rank, dist_url=args.dist_url, args=(args,))


if __name__ == "__main__":
    main()
