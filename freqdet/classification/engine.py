"""ImageNet-style classifier training on Detectron2's engine (launch/DDP, hooks, checkpointer, writers).

The loop is Detectron2's :class:`SimpleTrainer` (or :class:`AMPTrainer`); this module only
builds what differs for classification: ImageFolder loaders with DCT or RGB transforms,
a model that returns a loss dict, a distributed top-1/top-5 evaluator, and the SGD +
warm-up + cosine/step schedule. ``tools/train_classifier.py`` is a thin CLI around it.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import weakref
from typing import Optional

import torch
import torch.nn.functional as F
from detectron2.data.samplers import InferenceSampler
from detectron2.engine import AMPTrainer, SimpleTrainer, TrainerBase, hooks
from detectron2.engine.defaults import default_writers
from detectron2.solver import LRMultiplier, WarmupParamScheduler
from detectron2.solver.build import get_default_optimizer_params
from detectron2.utils import comm
from detectron2.utils.env import seed_all_rng
from detectron2.utils.events import get_event_storage
from detectron2.utils.logger import setup_logger
from fvcore.common.param_scheduler import CosineParamScheduler, MultiStepParamScheduler
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from freqdet.core import parse_channels
from freqdet.engine.hooks import FrequencyGateHook, SkippedImagesHook
from freqdet.engine.checkpoint import SafeCheckpointer
from freqdet.engine.resumable import PositionDataset, PositionSampler, ResumableTrainerMixin
from .data import NoneIfUnreadable, image_folder
from .models import ARCHS, DCTInput, build_classifier
from .stats import cached_image_folder_stats
from .transforms import DCT_SIZE, RGB_SIZE, build_transform, default_resize

__all__ = ["argument_parser", "ClassificationTrainer", "ClassifierWithLoss", "evaluate", "main"]
logger = logging.getLogger("freqdet.classification")


def argument_parser() -> argparse.ArgumentParser:
    """CLI of ``tools/train_classifier.py``; the launch flags are Detectron2's."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", required=True, help="ImageNet-layout root holding train/<class>/* and val/<class>/*")
    p.add_argument("--train-dir", default="train", help="training split, relative to --data")
    p.add_argument("--val-dir", default="val", help="validation split, relative to --data")
    p.add_argument("--output-dir", default="output/classifier")
    p.add_argument("--arch", default="resnet50_dct", choices=sorted(ARCHS))
    p.add_argument("--channels", default="24", help="DCT channel subset (name like 24, 64, 192, 24T or indices)")
    p.add_argument("--gate", action="store_true",
                   help="learned channel gate on all 192 channels (freqdet.core.gate); --channels is ignored")
    g = _gate_defaults()
    p.add_argument("--gate-lambda", type=float, default=g.LAMBDA, help="weight of the fraction of channels on")
    p.add_argument("--gate-lambda-warmup-iters", type=int, default=g.LAMBDA_WARMUP_ITERS)
    p.add_argument("--gate-tau", type=float, default=g.TAU, help="Gumbel temperature at iteration 0")
    p.add_argument("--gate-tau-min", type=float, default=g.TAU_MIN, help="temperature at the last iteration")
    p.add_argument("--gate-tau-schedule", choices=("exp", "constant"), default=g.TAU_SCHEDULE)
    p.add_argument("--gate-norm", default=g.NORM, help="LN, BN (the paper's) or ''")
    p.add_argument("--gate-init-on-logit", type=float, default=g.INIT_ON_LOGIT)
    p.add_argument("--input-size", type=int, default=None,
                   help=f"crop size in pixels (default {DCT_SIZE} for DCT, {RGB_SIZE} for RGB models)")
    p.add_argument("--resize", type=int, default=None, help="validation resize (default input-size*8/7)")
    p.add_argument("--crop-scale-min", type=float, default=0.08,
                   help="smallest area fraction of RandomResizedCrop (ImageNet: 0.08)")
    p.add_argument("--dct-on-device", action="store_true",
                   help="DCT models: the loader ships uint8 RGB crops and the model computes the DCT on its device")
    p.add_argument("--dct-stats", default=None,
                   help="per-channel DCT mean/std JSON; computed from the training set when missing "
                        "(default OUTPUT_DIR/dct_stats.json)")
    p.add_argument("--stats-images", type=int, default=10000, help="images sampled for the DCT statistics")
    p.add_argument("--batch-size", type=int, default=256, help="total over all processes")
    p.add_argument("--epochs", type=float, default=90)
    p.add_argument("--max-iter", type=int, default=None, help="overrides --epochs")
    p.add_argument("--lr", type=float, default=None, help="base LR (default 0.1 * batch-size / 256)")
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--schedule", choices=("cosine", "step"), default="cosine")
    p.add_argument("--steps", type=float, nargs="*", default=[30, 60, 80],
                   help="epochs at which the step schedule divides the LR by 10")
    p.add_argument("--warmup-epochs", type=float, default=5)
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--amp", action="store_true", help="mixed precision (CUDA)")
    p.add_argument("--num-workers", type=int, default=8, help="DataLoader workers per process")
    p.add_argument("--eval-period", type=int, default=None, help="iterations (default one epoch)")
    p.add_argument("--checkpoint-period", type=int, default=None, help="iterations (default one epoch)")
    p.add_argument("--log-period", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    p.add_argument("--weights", default="", help="checkpoint to start from (or to evaluate)")
    p.add_argument("--resume", action="store_true", help="continue from OUTPUT_DIR/last_checkpoint")
    p.add_argument("--eval-only", action="store_true", help="report top-1/top-5 of --weights (or the last checkpoint)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--skip-unreadable", action="store_true",
                   help="training images that cannot be decoded are logged, replaced by other images and counted "
                        "(data/skipped_images); default: stop with an error naming the file")
    # Detectron2's launch flags (detectron2.engine.default_argument_parser).
    p.add_argument("--num-gpus", type=int, default=1, help="processes per machine (GPUs, or CPU workers with gloo)")
    p.add_argument("--num-machines", type=int, default=1)
    p.add_argument("--machine-rank", type=int, default=0)
    p.add_argument("--dist-url", default="auto", help="tcp://host:port of machine 0 for multi-machine jobs")
    return p


def _gate_defaults():
    """The detector's MODEL.FREQ_GATE defaults: one source for both tasks' gate settings."""
    from detectron2.config import get_cfg

    from freqdet.detection.config import add_freqdet_config

    cfg = get_cfg()
    add_freqdet_config(cfg)
    return cfg.MODEL.FREQ_GATE


class ClassifierWithLoss(nn.Module):
    """Wraps a classifier so Detectron2's trainers see ``batch -> {loss name: loss}``.

    A network exposing ``auxiliary_losses()`` (e.g. a channel gate) has those losses added.
    ``input_transform`` (e.g. :class:`DCTInput`) runs on the device before the network.
    """

    def __init__(self, net: nn.Module, label_smoothing: float = 0.0, input_transform: Optional[nn.Module] = None):
        super().__init__()
        self.net = net
        self.label_smoothing = label_smoothing
        self.input_transform = input_transform

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def forward(self, batch):
        images, labels = batch
        images = images.to(self.device, non_blocking=True)
        if self.input_transform is not None:
            images = self.input_transform(images)
        logits = self.net(images)
        if not self.training:
            return logits
        labels = labels.to(self.device, non_blocking=True)
        losses = {"loss_cls": F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)}
        aux = getattr(self.net, "auxiliary_losses", None)
        if callable(aux):
            losses.update(aux())
        return losses


class _Metadata:
    """Checkpointable record of what a checkpoint needs to be used: arch, channels, statistics."""

    def __init__(self, **meta):
        self.meta = meta

    def state_dict(self):
        return dict(self.meta)

    def load_state_dict(self, state):
        self.meta.update(state)


@torch.no_grad()
def evaluate(model: nn.Module, loader, progress: bool = True) -> dict:
    """Top-1/top-5 accuracy (%) over a loader sharded across processes (``InferenceSampler``)."""
    was_training = model.training
    model.eval()
    correct = torch.zeros(2, dtype=torch.float64)
    count = 0
    for images, labels in tqdm(loader, desc="eval", disable=not (progress and comm.is_main_process())):
        logits = model((images, labels)).float().cpu()
        k = min(5, logits.shape[1])
        top = logits.topk(k, dim=1).indices
        hit = top == labels[:, None]
        correct[0] += hit[:, 0].sum().item()
        correct[1] += hit.any(dim=1).sum().item()
        count += labels.numel()
    model.train(was_training)
    parts = comm.all_gather((correct, count))
    correct = sum(c for c, _ in parts)
    count = sum(n for _, n in parts)
    if count == 0:
        raise RuntimeError("the validation set is empty")
    return {"top1": 100.0 * correct[0].item() / count, "top5": 100.0 * correct[1].item() / count,
            "num_images": count}


class ClassificationTrainer(ResumableTrainerMixin, TrainerBase):
    """Detectron2-style trainer (like ``DefaultTrainer``) for ImageFolder classification."""

    def __init__(self, args):
        super().__init__()
        self.args = args
        self.domain = ARCHS[args.arch][1]
        self.device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.size = args.input_size or (DCT_SIZE if self.domain == "dct" else RGB_SIZE)
        self.resize = args.resize or default_resize(self.size)
        # The gate sees all 192 channels; a static subset feeds the network directly.
        try:
            self.channels = parse_channels("192" if args.gate else args.channels)
        except ValueError as e:
            raise ValueError(f"--channels {args.channels!r}: {e}") from None
        self.on_device = bool(args.dct_on_device) and self.domain == "dct"  # the model computes the DCT

        train_root = os.path.join(args.data, args.train_dir)
        val_root = os.path.join(args.data, args.val_dir)
        self.mean, self.std = self._normalization(train_root)
        self.train_set = image_folder(train_root, self.transform(train=True))
        self.val_set = image_folder(val_root, self.transform(train=False))
        if self.val_set.classes != self.train_set.classes:
            raise ValueError(f"class folders differ between {train_root} ({len(self.train_set.classes)}) "
                             f"and {val_root} ({len(self.val_set.classes)})")
        self.num_classes = len(self.train_set.classes)

        world = comm.get_world_size()
        if args.batch_size % world:
            raise ValueError(f"--batch-size {args.batch_size} is not divisible by the {world} processes")
        self.batch_per_process = args.batch_size // world
        self.iters_per_epoch = max(1, len(self.train_set) // args.batch_size)
        self.max_iter = args.max_iter or max(1, math.ceil(args.epochs * self.iters_per_epoch))
        self.start_iter = 0
        self.last_results = None

        gate_kwargs = dict(norm=args.gate_norm, init_on_logit=args.gate_init_on_logit) if args.gate else None
        net = build_classifier(args.arch, self.num_classes, args.channels, gate=args.gate,
                               gate_kwargs=gate_kwargs).to(self.device)
        self.net = net
        self.model = ClassifierWithLoss(net, args.label_smoothing, self._input_transform())
        self.optimizer = self.build_optimizer()
        if world > 1:
            # device_ids=None on CPU: Detectron2's create_ddp_model assumes a GPU per process.
            ids = [comm.get_local_rank()] if self.device.type == "cuda" else None
            self.ddp_model = DistributedDataParallel(self.model, device_ids=ids, broadcast_buffers=False)
        else:
            self.ddp_model = self.model
        trainer_cls = AMPTrainer if args.amp else SimpleTrainer
        self._trainer = trainer_cls(self.ddp_model, self.build_train_loader(), self.optimizer)
        self.scheduler = self.build_lr_scheduler()
        # Saved keys are the network's own (torchvision names), so the detection converter reads them.
        self.checkpointer = SafeCheckpointer(
            net, args.output_dir, trainer=weakref.proxy(self),
            meta=_Metadata(arch=args.arch, channels=self.channels if self.domain == "dct" else None,
                           gate=args.gate, input_size=self.size, classes=self.train_set.classes,
                           dct_mean=self.mean, dct_std=self.std),
        )
        self.register_hooks(self.build_hooks())

    # ---- data -------------------------------------------------------------------------
    def _normalization(self, train_root):
        if self.domain != "dct":
            return None, None
        path = self.args.dct_stats or os.path.join(self.args.output_dir, "dct_stats.json")
        if comm.is_main_process():  # one process measures; the others read its file
            cached_image_folder_stats(path, train_root, "192", self.size, self.resize, self.args.stats_images,
                      self.args.num_workers, progress=not self.args.no_progress,
                      skip_unreadable=self.args.skip_unreadable)
        comm.synchronize()
        return cached_image_folder_stats(path, train_root, self.channels, self.size, self.resize)

    def transform(self, train: bool):
        return build_transform(self.domain, train, self.size, self.resize, self.channels, self.mean, self.std,
                               crop_scale=(self.args.crop_scale_min, 1.0), on_device=self.on_device)

    def _input_transform(self) -> Optional[nn.Module]:
        """The on-device DCT + normalisation (``--dct-on-device``), else None."""
        return DCTInput(self.channels, self.mean, self.std).to(self.device) if self.on_device else None

    def _loader(self, dataset, sampler, batch_size, drop_last, generator=None):
        workers = self.args.num_workers
        return torch.utils.data.DataLoader(
            dataset, batch_size=batch_size, sampler=sampler, num_workers=workers, drop_last=drop_last,
            pin_memory=self.device.type == "cuda", persistent_workers=workers > 0,
            worker_init_fn=_worker_init_reset_seed, generator=generator,
        )

    def build_train_loader(self):
        if len(self.train_set) < self.args.batch_size:
            raise ValueError(f"{self.train_set.root} has {len(self.train_set)} images, fewer than "
                             f"--batch-size {self.args.batch_size}")
        dataset = self.train_set
        if self.args.skip_unreadable:  # unreadable images replaced by others, counted for the metrics
            dataset = NoneIfUnreadable(self.train_set)
            self.skipped = dataset.skipped
        # Image order and augmentation are functions of (seed, position), so --resume continues them.
        self.train_data = PositionDataset(dataset, seed=self.args.seed)
        self.train_sampler = PositionSampler()
        generator = torch.Generator().manual_seed(self.args.seed)  # iterator creation draws no global RNG
        return self._loader(self.train_data, self.train_sampler, self.batch_per_process, drop_last=True,
                            generator=generator)

    def build_test_loader(self):
        return self._loader(self.val_set, InferenceSampler(len(self.val_set)), self.batch_per_process, False)

    # ---- optimisation -----------------------------------------------------------------
    def base_lr(self) -> float:
        return self.args.lr if self.args.lr is not None else 0.1 * self.args.batch_size / 256

    def build_optimizer(self):
        # No weight decay on BatchNorm parameters (Goyal et al., 2017).
        params = get_default_optimizer_params(self.model, base_lr=self.base_lr(),
                                              weight_decay=self.args.weight_decay, weight_decay_norm=0.0)
        return torch.optim.SGD(params, lr=self.base_lr(), momentum=self.args.momentum, nesterov=False)

    def build_lr_scheduler(self):
        a = self.args
        if a.schedule == "cosine":
            sched = CosineParamScheduler(1.0, 0.0)
        else:
            milestones = [int(s * self.iters_per_epoch) for s in a.steps if 0 < s * self.iters_per_epoch < self.max_iter]
            sched = MultiStepParamScheduler([0.1 ** i for i in range(len(milestones) + 1)],
                                            milestones=milestones, num_updates=self.max_iter)
        warmup = a.warmup_epochs * self.iters_per_epoch / self.max_iter
        if warmup > 0.25:  # a warm-up spanning the run would never reach the base LR
            logger.warning("warm-up of %.3g epochs is %.0f%% of training; shortened to 25%%",
                           a.warmup_epochs, 100 * warmup)
            warmup = 0.25
        if warmup > 0:
            sched = WarmupParamScheduler(sched, warmup_factor=0.01, warmup_length=warmup)
        return LRMultiplier(self.optimizer, sched, self.max_iter)

    # ---- hooks, checkpoints -----------------------------------------------------------
    def test(self) -> dict:
        results = evaluate(self.model, self.build_test_loader(), progress=not self.args.no_progress)
        self.last_results = results
        if comm.is_main_process():
            logger.info("Evaluation of %s on %s: top-1 %.2f%%  top-5 %.2f%%  (%d images)", self.args.arch,
                        self.val_set.root, results["top1"], results["top5"], results["num_images"])
            _append_json(os.path.join(self.args.output_dir, "eval_results.json"),
                         {"iteration": self.iter, "arch": self.args.arch, **results})
        return results

    def build_hooks(self):
        a = self.args
        epoch = self.iters_per_epoch
        ret = [hooks.IterationTimer(), hooks.LRScheduler(self.optimizer, self.scheduler)]
        if comm.is_main_process():
            ret.append(hooks.PeriodicCheckpointer(self.checkpointer, a.checkpoint_period or epoch,
                                                  max_iter=self.max_iter))
        ret.append(hooks.EvalHook(a.eval_period or epoch, self._eval_for_storage))
        if a.gate:  # temperature / lambda schedule, gate metrics, final selection rates + heat map
            ret.append(FrequencyGateHook(
                lam=a.gate_lambda, tau0=a.gate_tau, tau_min=a.gate_tau_min, tau_schedule=a.gate_tau_schedule,
                lambda_warmup_iters=a.gate_lambda_warmup_iters, log_period=a.log_period,
                rates_loader=self.build_test_loader, output_dir=a.output_dir,
                dataset_name=self.val_set.root))
        if a.skip_unreadable:
            ret.append(SkippedImagesHook(lambda: int(self.skipped.value)))
        if comm.is_main_process():
            ret.append(hooks.PeriodicWriter(default_writers(a.output_dir, self.max_iter), period=a.log_period))
        return ret

    def _eval_for_storage(self):
        results = self.test()
        return {"val/top1": results["top1"], "val/top5": results["top5"]}

    def resume_or_load(self, resume: bool = True):
        """Load ``--weights``, or with ``resume`` the last checkpoint and its iteration/optimizer/schedule."""
        self.checkpointer.resume_or_load(self.args.weights, resume=resume)
        if resume and self.checkpointer.has_checkpoint():
            self.start_iter = self.iter + 1
            self.train_sampler.start = self.start_iter * self.args.batch_size  # where the data stream was

    def load_for_eval(self, weights: str, resume: bool = False):
        """Load weights for evaluation; DCT statistics saved in the checkpoint take precedence."""
        if resume and not self.checkpointer.has_checkpoint():
            raise FileNotFoundError(f"--resume: no last_checkpoint in {self.args.output_dir}")
        if not resume and not os.path.isfile(weights):
            raise FileNotFoundError(f"--weights {weights} does not exist")
        meta = self.checkpointer.checkpointables["meta"]
        saved = dict(meta.meta)
        meta.meta.clear()
        self.checkpointer.resume_or_load(weights, resume=resume)
        loaded = meta.meta
        if loaded.get("arch", self.args.arch) != self.args.arch:
            raise ValueError(f"checkpoint {weights or 'last_checkpoint'} holds a {loaded['arch']}, not --arch {self.args.arch}")
        if self.domain == "dct" and loaded.get("dct_mean") is not None:
            if loaded.get("channels") != self.channels:
                raise ValueError(f"checkpoint channels {loaded.get('channels')} differ from --channels {self.args.channels}")
            self.mean, self.std = loaded["dct_mean"], loaded["dct_std"]
            self.val_set.transform = self.transform(train=False)
            self.model.input_transform = self._input_transform()
        meta.meta.update({**saved, **{k: v for k, v in loaded.items() if k not in saved}})

    def train(self):
        super().train(self.start_iter, self.max_iter)
        return self.last_results

    def run_step(self):
        self._trainer.iter = self.iter
        self._trainer.run_step()

    def state_dict(self):
        ret = super().state_dict()
        ret["_trainer"] = self._trainer.state_dict()
        return ret

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        self._trainer.load_state_dict(state_dict["_trainer"])


def _worker_init_reset_seed(worker_id):
    from detectron2.data.build import worker_init_reset_seed

    worker_init_reset_seed(worker_id)


def _append_json(path: str, record: dict) -> None:
    records = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            records = json.load(f)
    records.append(record)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(records, f, indent=1)


def setup(args) -> None:
    os.makedirs(args.output_dir, exist_ok=True)
    rank = comm.get_rank()
    setup_logger(args.output_dir, distributed_rank=rank, name="freqdet", abbrev_name="freqdet")
    setup_logger(args.output_dir, distributed_rank=rank, name="detectron2", abbrev_name="d2")
    seed_all_rng(args.seed + rank)
    if comm.is_main_process():
        with open(os.path.join(args.output_dir, "args.json"), "w", encoding="utf-8") as f:
            json.dump(vars(args), f, indent=1)
        logger.info("Arguments: %s", vars(args))


def main(args) -> Optional[dict]:
    """Per-process entry point given to ``detectron2.engine.launch``; returns eval results (rank 0)."""
    setup(args)
    trainer = ClassificationTrainer(args)
    if args.eval_only:
        if not args.weights and not args.resume:
            raise ValueError("--eval-only needs --weights CHECKPOINT or --resume (the last checkpoint in --output-dir)")
        trainer.load_for_eval(args.weights, resume=args.resume)
        return trainer.test()
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()
