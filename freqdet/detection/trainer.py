"""Detectron2's DefaultTrainer for FreqRCNN, and the ``train_net.py`` entry point.

Only what the DCT input changes is overridden, by classmethods and hooks, so Detectron2's
trainer keeps reaching us: the DCT mapper in both loaders, a training stream that ``--resume``
continues exactly (:mod:`freqdet.engine.resumable`), the COCO evaluator that completes foreign
ground truth, weights-only checkpoint reads, the gate and skipped-image hooks, and
DistributedDataParallel without device ids on CPU (:mod:`freqdet.engine.ddp`).
"""
from __future__ import annotations

import functools
import os
import weakref
from typing import Callable, Optional

from detectron2.data import (
    DatasetFromList,
    build_detection_test_loader,
    build_detection_train_loader,
    get_detection_dataset_dicts,
)
from detectron2.engine import DefaultTrainer, default_setup
from detectron2.utils import comm

from freqdet.core.known_warnings import quiet_known_warnings
from freqdet.engine.checkpoint import SafeCheckpointer
from freqdet.engine.ddp import default_trainer_ddp
from freqdet.engine.hooks import FrequencyGateHook, SkippedImagesHook, insert_before_writer, write_gate_outputs
from freqdet.engine.resumable import PositionDataset, PositionSampler, ResumableTrainerMixin

from .config import check_config
from .data_check import check_training_datasets
from .evaluation import COCOEvaluator
from .mapper import DCTDatasetMapper
from .stats import ensure_dct_stats
from .tool_config import load_yacs_config, register_datasets

__all__ = ["Trainer", "add_gate_hook", "build_resumable_detection_train_loader", "main", "setup",
           "write_gate_outputs_for_cfg"]


def build_resumable_detection_train_loader(cfg, mapper, seed: int):
    """Detectron2's training loader for ``cfg`` (same dataset dicts, batching, aspect grouping, workers)
    with :class:`PositionDataset`/:class:`PositionSampler` in place of MapDataset/TrainingSampler.

    The loader carries them as ``position_dataset`` and ``position_sampler``; set ``sampler.start``
    and ``dataset.seed`` before the first iteration to resume. Exact continuation also needs the
    aspect-ratio buckets empty at the restart (always true when all images share one aspect class,
    or without DATALOADER.ASPECT_RATIO_GROUPING).
    """
    dicts = get_detection_dataset_dicts(
        cfg.DATASETS.TRAIN,
        filter_empty=cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS,
        min_keypoints=cfg.MODEL.ROI_KEYPOINT_HEAD.MIN_KEYPOINTS_PER_IMAGE if cfg.MODEL.KEYPOINT_ON else 0,
        proposal_files=cfg.DATASETS.PROPOSAL_FILES_TRAIN if cfg.MODEL.LOAD_PROPOSALS else None,
    )
    dataset = PositionDataset(DatasetFromList(dicts, copy=False), mapper, seed)
    sampler = PositionSampler()
    loader = build_detection_train_loader(
        dataset=dataset, mapper=None, sampler=sampler, total_batch_size=cfg.SOLVER.IMS_PER_BATCH,
        aspect_ratio_grouping=cfg.DATALOADER.ASPECT_RATIO_GROUPING, num_workers=cfg.DATALOADER.NUM_WORKERS,
        seed=seed,  # the loader's own generator: creating its iterator draws nothing from the global RNG
    )
    loader.position_dataset, loader.position_sampler = dataset, sampler
    return loader


def add_gate_hook(hooks: list, cfg, build_test_loader: Callable) -> list:
    """Add the gate hook to a trainer's hooks when MODEL.FREQ_GATE.ENABLED (else leave them).

    ``build_test_loader(cfg, dataset_name)``: the trainer's, for the final selection rates
    over ``DATASETS.TEST[0]``.
    """
    if not cfg.MODEL.FREQ_GATE.ENABLED:
        return hooks
    loader = functools.partial(build_test_loader, cfg, cfg.DATASETS.TEST[0]) if len(cfg.DATASETS.TEST) else None
    hook = FrequencyGateHook.from_config(cfg.MODEL.FREQ_GATE, output_dir=cfg.OUTPUT_DIR, rates_loader=loader,
                                         dataset_name=cfg.DATASETS.TEST[0] if len(cfg.DATASETS.TEST) else "")
    return insert_before_writer(hooks, hook)


def write_gate_outputs_for_cfg(cfg, model, build_test_loader: Callable) -> Optional[str]:
    """``--eval-only``: selection rates of a trained gate over DATASETS.TEST[0] (no-op without a gate)."""
    if not cfg.MODEL.FREQ_GATE.ENABLED or not len(cfg.DATASETS.TEST):
        return None
    g = cfg.MODEL.FREQ_GATE
    name = cfg.DATASETS.TEST[0]
    return write_gate_outputs(model, build_test_loader(cfg, name), cfg.OUTPUT_DIR, g.RATES_FILE,
                              heatmap=g.HEATMAP, dataset=name, weights=cfg.MODEL.WEIGHTS)


class Trainer(ResumableTrainerMixin, DefaultTrainer):
    """``DefaultTrainer`` on DCT inputs.

    Overridden: the loaders and the evaluator (classmethods, as Detectron2 intends), the
    checkpointer and hooks (:meth:`build_hooks`), and DDP's device ids on CPU while
    ``DefaultTrainer.__init__`` runs; ``--resume`` continuing the data stream comes from
    :class:`ResumableTrainerMixin`. Everything else is Detectron2's.
    """

    def __init__(self, cfg):
        with default_trainer_ddp(cfg.MODEL.DEVICE):  # CPU processes: DDP without device ids
            super().__init__(cfg)

    @property
    def train_data(self) -> Optional[PositionDataset]:
        """The resumable stream's dataset (None with another sampler); ResumableTrainerMixin reads it."""
        return getattr(self._trainer.data_loader, "position_dataset", None)

    @property
    def train_sampler(self) -> Optional[PositionSampler]:
        """The resumable stream's sampler (None with another sampler)."""
        return getattr(self._trainer.data_loader, "position_sampler", None)

    @property
    def train_mapper(self) -> DCTDatasetMapper:
        """The training loader's mapper (its ``num_skipped`` counts unreadable images)."""
        return self._trainer.data_loader.dct_mapper

    @property
    def total_batch(self) -> int:
        """Images per iteration over all processes (the stream's position advances by it)."""
        return self.cfg.SOLVER.IMS_PER_BATCH

    def build_hooks(self):
        """DefaultTrainer's hooks with a weights-only checkpointer, plus the gate hook
        (MODEL.FREQ_GATE) and the skipped-images counter (DATALOADER.SKIP_UNREADABLE_IMAGES)."""
        # DefaultTrainer made a DetectionCheckpointer; its file reads would unpickle anything.
        self.checkpointer = SafeCheckpointer(self._trainer.model, self.cfg.OUTPUT_DIR, trainer=weakref.proxy(self),
                                             allow_partial=self.cfg.MODEL.WEIGHTS_PARTIAL)
        # MODEL.FREQ_GATE: temperature / lambda schedule, gate logging, final selection rates.
        ret = add_gate_hook(super().build_hooks(), self.cfg, self.build_test_loader)
        mapper = self.train_mapper
        if mapper.skipped is not None:  # DATALOADER.SKIP_UNREADABLE_IMAGES: data/skipped_images
            ret = insert_before_writer(ret, SkippedImagesHook(lambda: mapper.num_skipped))
        return ret

    @classmethod
    def build_train_loader(cls, cfg):
        """The resumable stream for Detectron2's ``TrainingSampler``; other samplers (e.g.
        RepeatFactorTrainingSampler) get Detectron2's loader, whose stream restarts on ``--resume``."""
        mapper = DCTDatasetMapper(cfg, is_train=True)
        if cfg.DATALOADER.SAMPLER_TRAIN == "TrainingSampler":
            seed = cfg.SEED if cfg.SEED >= 0 else comm.shared_random_seed()
            loader = build_resumable_detection_train_loader(cfg, mapper, seed)
        else:
            loader = build_detection_train_loader(cfg, mapper=mapper)
        loader.dct_mapper = mapper  # its skipped-image count feeds SkippedImagesHook
        return loader

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        return build_detection_test_loader(cfg, dataset_name, mapper=DCTDatasetMapper(cfg, is_train=False))

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        output_folder = output_folder or os.path.join(cfg.OUTPUT_DIR, "inference", dataset_name)
        return COCOEvaluator(dataset_name, output_dir=output_folder)  # bbox, and segm when MASK_ON


def setup(args):
    """The frozen config of ``args.config_file`` + ``args.opts`` (``KEY VALUE`` pairs), after registering the
    ``args.dataset`` specs (``NAME=JSON:IMAGE_ROOT``, in every process), with Detectron2's ``default_setup``."""
    quiet_known_warnings()  # also in the processes launch() spawns
    register_datasets(getattr(args, "dataset", None) or ())
    cfg = load_yacs_config(args.config_file, args.opts)
    cfg.freeze()
    default_setup(cfg, args)
    return cfg


def main(args):
    """Per-process entry point of ``tools/train_net.py`` (given to Detectron2's ``launch``).

    Order matters: the whole config is checked before any image is read, then (main process) the
    training datasets are loaded once and checked, then MODEL.PIXEL_STATS_FILE is made sure to
    describe this run's data (computed and written only now, after the config was accepted)."""
    cfg = setup(args)
    check_config(cfg)  # subsets, s, FPN names, gate, statistics keys: fail before the slow steps
    dicts = None
    if comm.is_main_process() and not args.eval_only:
        dicts = check_training_datasets(cfg.DATASETS.TRAIN).get(cfg.DATASETS.TRAIN[0]) if cfg.DATASETS.TRAIN else None
    # MODEL.PIXEL_STATS_FILE: missing, or made automatically for other data: computed on the main process
    ensure_dct_stats(cfg, dicts, require_dataset=not args.eval_only)
    if args.eval_only:
        model = Trainer.build_model(cfg)
        SafeCheckpointer(model, save_dir=cfg.OUTPUT_DIR, allow_partial=cfg.MODEL.WEIGHTS_PARTIAL).resume_or_load(
            cfg.MODEL.WEIGHTS, resume=args.resume)
        results = Trainer.test(cfg, model)
        write_gate_outputs_for_cfg(cfg, model, Trainer.build_test_loader)  # only with MODEL.FREQ_GATE
        return results
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()
