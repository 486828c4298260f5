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
from freqdet.detection.tool_config import launch_training

if __name__ == "__main__":
    launch_training()
