#!/usr/bin/env python
"""Train / evaluate freqdet's LazyConfig (``.py``) configs, as Detectron2's tools/lazyconfig_train_net.py.

    python tools/lazyconfig_train_net.py --config-file configs/COCO-InstanceSegmentation/mask_rcnn_dct24_R_50_FPN_1x.py \\
        --num-gpus 8 model.pixel_mean.path=datasets/coco/dct_stats_s2.json
    python tools/lazyconfig_train_net.py --config-file ... --eval-only train.init_checkpoint=output/model_final.pth
    python tools/lazyconfig_train_net.py --config-file ... --resume

The logic is :mod:`freqdet.detection.lazy_train`; a missing ``model.pixel_mean.path`` is computed
first and cached, and ``--dataset NAME=JSON:IMAGE_ROOT`` registers COCO-format json datasets. This
script and tools/train_net.py are one entry point: each trains a ``.py`` with the LazyConfig trainer
and a yacs ``.yaml`` with Detectron2's DefaultTrainer.
"""
from freqdet.detection.tool_config import launch_training

if __name__ == "__main__":
    launch_training()
