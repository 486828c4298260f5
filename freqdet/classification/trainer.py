"""ImageNet-style classifier training on Detectron2's engine, driven by a classification config.

The loop is Detectron2's :class:`SimpleTrainer` (or :class:`AMPTrainer`), with its hooks,
writers, checkpointer and ``launch``; this module builds only what differs for classification:
ImageFolder loaders with DCT or RGB transforms (a resumable training stream), a model that
returns a loss dict, the SGD + warm-up + cosine/step schedule, and checkpoints that carry what
evaluating them needs. Its keys: :mod:`freqdet.classification.config`; its CLI:
``tools/train_classifier.py``.
"""
from __future__ import annotations

import json
import logging
import math
import os
import weakref
from typing import Optional

import torch
import torch.nn.functional as F
from detectron2.data.build import worker_init_reset_seed
from detectron2.data.samplers import InferenceSampler
from detectron2.engine import AMPTrainer, SimpleTrainer, TrainerBase, default_setup, hooks
from detectron2.engine.defaults import default_writers
from detectron2.solver import LRMultiplier, WarmupParamScheduler
from detectron2.solver.build import get_default_optimizer_params
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger
from fvcore.common.param_scheduler import CosineParamScheduler, MultiStepParamScheduler
from torch import nn

from freqdet.engine.checkpoint import SafeCheckpointer
from freqdet.engine.ddp import create_ddp_model
from freqdet.engine.hooks import FrequencyGateHook, SkippedImagesHook, insert_before_writer
from freqdet.engine.resumable import PositionDataset, PositionSampler, ResumableTrainerMixin
from .config import check_classification_config, classification_channels, load_classification_config
from .data import NoneIfUnreadable, image_folder
from .evaluation import evaluate_classifier
from .models import ARCHS, DCTInput, build_classifier
from .stats import cached_image_folder_stats
from .transforms import DCT_SIZE, RGB_SIZE, build_transform, default_resize

__all__ = ["CheckpointMetadata", "ClassificationTrainer", "ClassifierWithLoss", "main", "setup"]
logger = logging.getLogger("freqdet.classification")


class ClassifierWithLoss(nn.Module):
    """Wraps a classifier so Detectron2's trainers see ``batch -> {loss name: loss}``.

    A network exposing ``auxiliary_losses()`` (e.g. a channel gate) has those losses added.
    ``input_transform`` (e.g. :class:`DCTInput`) runs on the device before the network.
    In eval mode it returns the logits (what :class:`ClassificationEvaluator` reads).
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


class CheckpointMetadata:
    """Checkpointable record (key ``"meta"``) of what using a checkpoint needs: arch, channels,
    gate, DCT stem, crop size, class names and the DCT statistics it was trained with."""

    def __init__(self, **meta):
        self.meta = meta

    def state_dict(self):
        return dict(self.meta)

    def load_state_dict(self, state):
        self.meta.update(state)


class ClassificationTrainer(ResumableTrainerMixin, TrainerBase):
    """Detectron2-style trainer (like ``DefaultTrainer``) for ImageFolder classification.

    ``cfg``: a classification config (:func:`load_classification_config`). ``train()`` runs
    ``SOLVER.MAX_ITER`` iterations with evaluation and checkpoint hooks and returns the last
    evaluation; ``load_for_eval`` + ``test()`` evaluate a checkpoint.
    """

    def __init__(self, cfg):
        super().__init__()
        check_classification_config(cfg)
        if not cfg.DATASETS.ROOT:
            raise ValueError("DATASETS.ROOT is not set: give the ImageNet-layout folder holding "
                             f"{cfg.DATASETS.TRAIN_DIR}/<class>/* and {cfg.DATASETS.VAL_DIR}/<class>/*")
        self.cfg = cfg
        self.arch = cfg.MODEL.ARCH
        self.domain = ARCHS[self.arch][1]
        self.gate = bool(cfg.MODEL.FREQ_GATE.ENABLED)
        self.device = torch.device(cfg.MODEL.DEVICE or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.size = cfg.INPUT.SIZE or (DCT_SIZE if self.domain == "dct" else RGB_SIZE)
        self.resize = cfg.INPUT.RESIZE or default_resize(self.size)
        self.channels = classification_channels(cfg)  # all 192 behind the gate
        self.on_device = cfg.INPUT.DCT.ON_DEVICE and self.domain == "dct"  # the model computes the DCT
        self.seed = cfg.SEED if cfg.SEED >= 0 else comm.shared_random_seed()

        train_root = os.path.join(cfg.DATASETS.ROOT, cfg.DATASETS.TRAIN_DIR)
        val_root = os.path.join(cfg.DATASETS.ROOT, cfg.DATASETS.VAL_DIR)
        self.mean, self.std = self._normalization(train_root)
        self.train_set = image_folder(train_root, self.transform(train=True))
        self.val_set = image_folder(val_root, self.transform(train=False))
        if self.val_set.classes != self.train_set.classes:
            raise ValueError(f"class folders differ between {train_root} ({len(self.train_set.classes)}) "
                             f"and {val_root} ({len(self.val_set.classes)})")
        self.num_classes = len(self.train_set.classes)

        world = comm.get_world_size()
        if self.total_batch % world:
            raise ValueError(f"SOLVER.IMS_PER_BATCH {self.total_batch} is not divisible by the {world} processes")
        self.batch_per_process = self.total_batch // world
        self.iters_per_epoch = max(1, len(self.train_set) // self.total_batch)
        self.max_iter = cfg.SOLVER.MAX_ITER or max(1, math.ceil(cfg.SOLVER.EPOCHS * self.iters_per_epoch))
        self.start_iter = 0
        self.last_results = None

        g = cfg.MODEL.FREQ_GATE
        gate_kwargs = (dict(norm=g.NORM, init_on_logit=g.INIT_ON_LOGIT, grad_scale=g.GRAD_SCALE, inference=g.INFERENCE)
                       if self.gate else None)
        self.stem = cfg.MODEL.DCT_STEM.NAME
        self.net = build_classifier(self.arch, self.num_classes, self.channels, gate=self.gate,
                                    gate_kwargs=gate_kwargs, stem=self.stem,
                                    stem_kernel=cfg.MODEL.DCT_STEM.KERNEL).to(self.device)
        self.model = ClassifierWithLoss(self.net, cfg.MODEL.LABEL_SMOOTHING, self._input_transform())
        self.optimizer = self.build_optimizer()
        self.ddp_model = (create_ddp_model(self.model, self.device, broadcast_buffers=False)
                          if world > 1 else self.model)
        trainer_cls = AMPTrainer if cfg.SOLVER.AMP.ENABLED else SimpleTrainer
        self._trainer = trainer_cls(self.ddp_model, self.build_train_loader(), self.optimizer)
        self.scheduler = self.build_lr_scheduler()
        # Saved keys are the network's own (torchvision names), so the detection converter reads them.
        self.checkpointer = SafeCheckpointer(
            self.net, cfg.OUTPUT_DIR, trainer=weakref.proxy(self),
            meta=CheckpointMetadata(arch=self.arch, channels=self.channels if self.domain == "dct" else None,
                                    gate=self.gate, dct_stem=self.stem, input_size=self.size,
                                    classes=self.train_set.classes,
                                    dct_mean=self.mean, dct_std=self.std),
        )
        self.register_hooks(self.build_hooks())

    @property
    def total_batch(self) -> int:
        """Images per iteration over all processes (ResumableTrainerMixin positions the stream by it)."""
        return self.cfg.SOLVER.IMS_PER_BATCH

    # ---- data -------------------------------------------------------------------------
    def _normalization(self, train_root):
        """Per-channel DCT mean/std of the selected channels (None, None for RGB models)."""
        if self.domain != "dct":
            return None, None
        cfg = self.cfg
        path = cfg.MODEL.PIXEL_STATS_FILE or os.path.join(cfg.OUTPUT_DIR, "dct_stats.json")
        if comm.is_main_process():  # one process measures; the others read its file
            cached_image_folder_stats(path, train_root, "192", self.size, self.resize, cfg.MODEL.PIXEL_STATS_MAX_IMAGES,
                                      cfg.DATALOADER.NUM_WORKERS, progress=cfg.PROGRESS,
                                      skip_unreadable=cfg.DATALOADER.SKIP_UNREADABLE_IMAGES)
        comm.synchronize()
        return cached_image_folder_stats(path, train_root, self.channels, self.size, self.resize)

    def transform(self, train: bool):
        return build_transform(self.domain, train, self.size, self.resize, self.channels, self.mean, self.std,
                               crop_scale=(self.cfg.INPUT.CROP_SCALE_MIN, 1.0), on_device=self.on_device)

    def _input_transform(self) -> Optional[nn.Module]:
        """The on-device DCT + normalisation (``INPUT.DCT.ON_DEVICE``), else None."""
        return DCTInput(self.channels, self.mean, self.std).to(self.device) if self.on_device else None

    def _loader(self, dataset, sampler, batch_size, drop_last, generator=None):
        workers = self.cfg.DATALOADER.NUM_WORKERS
        return torch.utils.data.DataLoader(
            dataset, batch_size=batch_size, sampler=sampler, num_workers=workers, drop_last=drop_last,
            pin_memory=self.device.type == "cuda", persistent_workers=workers > 0,
            worker_init_fn=worker_init_reset_seed, generator=generator,
        )

    def build_train_loader(self):
        if len(self.train_set) < self.total_batch:
            raise ValueError(f"{self.train_set.root} has {len(self.train_set)} images, fewer than "
                             f"SOLVER.IMS_PER_BATCH {self.total_batch}")
        dataset = self.train_set
        if self.cfg.DATALOADER.SKIP_UNREADABLE_IMAGES:  # replaced by other images, counted for the metrics
            dataset = NoneIfUnreadable(self.train_set)
            self.skipped = dataset.skipped
        # Image order and augmentation are functions of (seed, position), so --resume continues them.
        self.train_data = PositionDataset(dataset, seed=self.seed)
        self.train_sampler = PositionSampler()
        generator = torch.Generator().manual_seed(self.seed)  # iterator creation draws no global RNG
        return self._loader(self.train_data, self.train_sampler, self.batch_per_process, drop_last=True,
                            generator=generator)

    def build_test_loader(self):
        return self._loader(self.val_set, InferenceSampler(len(self.val_set)), self.batch_per_process, False)

    # ---- optimisation -----------------------------------------------------------------
    def base_lr(self) -> float:
        return self.cfg.SOLVER.BASE_LR or 0.1 * self.total_batch / 256

    def build_optimizer(self):
        # No weight decay on BatchNorm parameters (Goyal et al., 2017).
        params = get_default_optimizer_params(self.model, base_lr=self.base_lr(),
                                              weight_decay=self.cfg.SOLVER.WEIGHT_DECAY, weight_decay_norm=0.0)
        return torch.optim.SGD(params, lr=self.base_lr(), momentum=self.cfg.SOLVER.MOMENTUM, nesterov=False)

    def build_lr_scheduler(self):
        s = self.cfg.SOLVER
        if s.SCHEDULE == "cosine":
            sched = CosineParamScheduler(1.0, 0.0)
        else:
            milestones = [int(e * self.iters_per_epoch) for e in s.STEP_EPOCHS
                          if 0 < e * self.iters_per_epoch < self.max_iter]
            sched = MultiStepParamScheduler([0.1 ** i for i in range(len(milestones) + 1)],
                                            milestones=milestones, num_updates=self.max_iter)
        warmup = s.WARMUP_EPOCHS * self.iters_per_epoch / self.max_iter
        if warmup > 0.25:  # a warm-up spanning the run would never reach the base LR
            logger.warning("warm-up of %.3g epochs is %.0f%% of training; shortened to 25%%",
                           s.WARMUP_EPOCHS, 100 * warmup)
            warmup = 0.25
        if warmup > 0:
            sched = WarmupParamScheduler(sched, warmup_factor=0.01, warmup_length=warmup)
        return LRMultiplier(self.optimizer, sched, self.max_iter)

    # ---- hooks, evaluation, checkpoints -----------------------------------------------
    def test(self) -> dict:
        """Top-1/top-5 on the validation split; the main process appends it to eval_results.json."""
        results = evaluate_classifier(self.model, self.build_test_loader())
        self.last_results = results
        if comm.is_main_process():
            logger.info("Evaluation of %s on %s: top-1 %.2f%%  top-5 %.2f%%  (%d images)", self.arch,
                        self.val_set.root, results["top1"], results["top5"], results["num_images"])
            _append_json(os.path.join(self.cfg.OUTPUT_DIR, "eval_results.json"),
                         {"iteration": self.iter, "arch": self.arch, **results})
        return results

    def build_hooks(self):
        cfg = self.cfg
        epoch = self.iters_per_epoch
        ret = [hooks.IterationTimer(), hooks.LRScheduler(self.optimizer, self.scheduler)]
        if comm.is_main_process():
            ret.append(hooks.PeriodicCheckpointer(self.checkpointer, cfg.SOLVER.CHECKPOINT_PERIOD or epoch,
                                                  max_iter=self.max_iter))
        ret.append(hooks.EvalHook(cfg.TEST.EVAL_PERIOD or epoch, self._eval_for_storage))
        if comm.is_main_process():
            ret.append(hooks.PeriodicWriter(default_writers(cfg.OUTPUT_DIR, self.max_iter), period=cfg.LOG_PERIOD))
        if self.gate:  # temperature / lambda schedule, gate metrics, final selection rates + heat map
            ret = insert_before_writer(ret, FrequencyGateHook.from_config(
                cfg.MODEL.FREQ_GATE, output_dir=cfg.OUTPUT_DIR, rates_loader=self.build_test_loader,
                dataset_name=self.val_set.root))
        if cfg.DATALOADER.SKIP_UNREADABLE_IMAGES:
            ret = insert_before_writer(ret, SkippedImagesHook(lambda: int(self.skipped.value)))
        return ret

    def _eval_for_storage(self):
        results = self.test()
        return {"val/top1": results["top1"], "val/top5": results["top5"]}

    def resume_or_load(self, resume: bool = True):
        """Load ``MODEL.WEIGHTS``, or with ``resume`` the last checkpoint and its iteration, optimizer,
        schedule, RNG and position in the training stream."""
        self.checkpointer.resume_or_load(self.cfg.MODEL.WEIGHTS, resume=resume)
        if resume and self.checkpointer.has_checkpoint():
            self.start_iter = self.iter + 1
            self.train_sampler.start = self.start_iter * self.total_batch  # where the data stream was

    def load_for_eval(self, weights: str, resume: bool = False):
        """Load weights for evaluation; DCT statistics saved in the checkpoint take precedence."""
        if resume and not self.checkpointer.has_checkpoint():
            raise FileNotFoundError(f"--resume: no last_checkpoint in {self.cfg.OUTPUT_DIR}")
        if not resume and not os.path.isfile(weights):
            raise FileNotFoundError(f"MODEL.WEIGHTS {weights} does not exist")
        meta = self.checkpointer.checkpointables["meta"]
        saved = dict(meta.meta)
        meta.meta.clear()
        extra = self.checkpointer.resume_or_load(weights, resume=resume)
        # Without resume fvcore loads the model alone and returns the file's other entries, "meta" among them.
        loaded = {**meta.meta, **(extra.get("meta") or {})}
        if loaded.get("arch", self.arch) != self.arch:
            raise ValueError(f"checkpoint {weights or 'last_checkpoint'} holds a {loaded['arch']}, "
                             f"not MODEL.ARCH {self.arch}")
        stem = loaded.get("dct_stem", "none")  # older checkpoints: the identity stem
        if stem != self.stem:  # a stem of other keys would load as missing keys, leaving it random
            raise ValueError(f"checkpoint {weights or 'last_checkpoint'} has the DCT stem {stem!r}, "
                             f"not MODEL.DCT_STEM.NAME {self.stem!r}")
        if self.domain == "dct" and loaded.get("dct_mean") is not None:
            if loaded.get("channels") != self.channels:
                raise ValueError(f"checkpoint channels {loaded.get('channels')} differ from "
                                 f"INPUT.DCT.CHANNELS {self.cfg.INPUT.DCT.CHANNELS}")
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


def _append_json(path: str, record: dict) -> None:
    records = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            records = json.load(f)
    records.append(record)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(records, f, indent=1)


def setup(args):
    """The frozen config of ``args.config_file`` + ``args.opts``, with Detectron2's ``default_setup``
    (loggers, environment and config logged, OUTPUT_DIR/config.yaml, seeds SEED + rank)."""
    cfg = load_classification_config(args.config_file, args.opts or ())
    cfg.freeze()
    default_setup(cfg, args)
    setup_logger(cfg.OUTPUT_DIR, distributed_rank=comm.get_rank(), name="freqdet", abbrev_name="freqdet")
    return cfg


def main(args) -> Optional[dict]:
    """Per-process entry point given to ``detectron2.engine.launch``; returns the evaluation results."""
    cfg = setup(args)
    if args.eval_only and not cfg.MODEL.WEIGHTS and not args.resume:
        raise ValueError("--eval-only needs MODEL.WEIGHTS CHECKPOINT or --resume (the last checkpoint in OUTPUT_DIR)")
    trainer = ClassificationTrainer(cfg)
    if args.eval_only:
        trainer.load_for_eval(cfg.MODEL.WEIGHTS, resume=args.resume)
        return trainer.test()
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()
