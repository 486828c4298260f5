"""Training and evaluation of LazyConfig (``.py``) configs: Detectron2's ``tools/lazyconfig_train_net.py``.

The config holds model, dataloader.{train,test,evaluator}, optimizer, lr_multiplier and train
(Detectron2's common/train.py keys); everything is built by ``instantiate``. What differs from
Detectron2's script: ``--dataset`` registrations, a missing statistics file (``model.pixel_mean.path``)
computed first as ``tools/train_net.py`` does for yacs configs, weights-only checkpoint reads that
refuse tensors of other shapes unless ``train.init_checkpoint_partial=True``, and
DistributedDataParallel without device ids on CPU, so ``--num-gpus N`` also runs N CPU processes.
"""
from __future__ import annotations

import logging

from detectron2.config import instantiate
from detectron2.engine import AMPTrainer, SimpleTrainer, default_setup, default_writers, hooks
from detectron2.evaluation import inference_on_dataset, print_csv_format
from detectron2.utils import comm

from freqdet.core.known_warnings import quiet_known_warnings
from freqdet.engine.checkpoint import SafeCheckpointer
from freqdet.engine.ddp import create_ddp_model

from .tool_config import LazyToolConfig, ensure_stats, load_lazy_config, register_datasets

__all__ = ["do_test", "do_train", "main"]
logger = logging.getLogger("detectron2")


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
    model = create_ddp_model(model, cfg.train.device, **cfg.train.ddp)
    trainer = (AMPTrainer if cfg.train.amp.enabled else SimpleTrainer)(model, train_loader, optim)
    checkpointer = SafeCheckpointer(model, cfg.train.output_dir, trainer=trainer, allow_partial=partial_weights(cfg))
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


def partial_weights(cfg) -> bool:
    """``train.init_checkpoint_partial`` (absent: False): load weights whose shapes partly differ."""
    return bool(cfg.train.get("init_checkpoint_partial", False))


def main(args):
    """Per-process entry point of ``tools/lazyconfig_train_net.py`` and of ``tools/train_net.py`` given a
    ``.py`` (given to ``launch``)."""
    quiet_known_warnings()  # also in the processes launch() spawns
    register_datasets(getattr(args, "dataset", None) or ())
    cfg = load_lazy_config(args.config_file, args.opts)
    default_setup(cfg, args)
    ensure_stats(LazyToolConfig(cfg, args.config_file))  # missing model.pixel_mean.path: computed, cached
    if args.eval_only:
        model = instantiate(cfg.model)
        model.to(cfg.train.device)
        model = create_ddp_model(model, cfg.train.device)
        SafeCheckpointer(model, allow_partial=partial_weights(cfg)).load(cfg.train.init_checkpoint)
        return do_test(cfg, model)
    do_train(args, cfg)
