#!/usr/bin/env python
"""Train / evaluate freqdet's LazyConfig (``.py``) configs: Detectron2's tools/lazyconfig_train_net.py.

    python tools/lazyconfig_train_net.py --config-file configs/COCO-InstanceSegmentation/mask_rcnn_dct24_R_50_FPN_1x.py \\
        --num-gpus 8 model.pixel_mean.path=datasets/coco/dct_stats_s2.json
    python tools/lazyconfig_train_net.py --config-file ... --eval-only train.init_checkpoint=output/model_final.pth
    python tools/lazyconfig_train_net.py --config-file ... --resume

The config holds model, dataloader.{train,test,evaluator}, optimizer, lr_multiplier and train
(Detectron2's common/train.py keys). Everything is built by ``instantiate``; the only difference
from Detectron2's script is DistributedDataParallel without device ids on CPU (gloo), so
``--num-gpus N`` also runs N CPU processes.
"""
import logging

import torch
from detectron2.config import LazyConfig, instantiate
from detectron2.engine import (
    AMPTrainer, SimpleTrainer, default_argument_parser, default_setup, default_writers, hooks, launch,
)
from detectron2.engine.defaults import create_ddp_model
from detectron2.evaluation import inference_on_dataset, print_csv_format
from detectron2.utils import comm

import freqdet  # noqa: F401  (registers the demo datasets)
from freqdet.safe_load import SafeCheckpointer  # weights-only loading of untrusted files

logger = logging.getLogger("detectron2")


def ddp(cfg, model, **kwargs):
    """create_ddp_model, with device_ids=None when the model is on CPU (DDP rejects [rank] there)."""
    if torch.device(cfg.train.device).type != "cuda":
        kwargs["device_ids"] = None
    return create_ddp_model(model, **kwargs)


def do_test(cfg, model):
    if "evaluator" in cfg.dataloader:
        ret = inference_on_dataset(model, instantiate(cfg.dataloader.test), instantiate(cfg.dataloader.evaluator))
        print_csv_format(ret)
        return ret


def do_train(args, cfg):
    model = instantiate(cfg.model)
    logger.info("Model:\n{}".format(model))
    model.to(cfg.train.device)
    cfg.optimizer.params.model = model
    optim = instantiate(cfg.optimizer)
    train_loader = instantiate(cfg.dataloader.train)
    model = ddp(cfg, model, **cfg.train.ddp)
    trainer = (AMPTrainer if cfg.train.amp.enabled else SimpleTrainer)(model, train_loader, optim)
    checkpointer = SafeCheckpointer(model, cfg.train.output_dir, trainer=trainer)
    trainer.register_hooks([
        hooks.IterationTimer(),
        hooks.LRScheduler(scheduler=instantiate(cfg.lr_multiplier)),
        hooks.PeriodicCheckpointer(checkpointer, **cfg.train.checkpointer) if comm.is_main_process() else None,
        hooks.EvalHook(cfg.train.eval_period, lambda: do_test(cfg, model)),
        hooks.PeriodicWriter(default_writers(cfg.train.output_dir, cfg.train.max_iter), period=cfg.train.log_period)
        if comm.is_main_process() else None,
    ])
    checkpointer.resume_or_load(cfg.train.init_checkpoint, resume=args.resume)
    # the checkpoint stores the iteration that just finished: continue with the next one
    start_iter = trainer.iter + 1 if args.resume and checkpointer.has_checkpoint() else 0
    trainer.train(start_iter, cfg.train.max_iter)


def main(args):
    cfg = LazyConfig.load(args.config_file)
    cfg = LazyConfig.apply_overrides(cfg, args.opts)
    default_setup(cfg, args)
    if args.eval_only:
        model = instantiate(cfg.model)
        model.to(cfg.train.device)
        model = ddp(cfg, model)
        SafeCheckpointer(model).load(cfg.train.init_checkpoint)
        print(do_test(cfg, model))
    else:
        do_train(args, cfg)


if __name__ == "__main__":
    args = default_argument_parser().parse_args()
    launch(main, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
           dist_url=args.dist_url, args=(args,))
