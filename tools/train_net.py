#!/usr/bin/env python
"""Train / evaluate frequency-domain R-CNNs with Detectron2 (one or many GPUs or CPU processes).

    python tools/train_net.py --config-file configs/COCO-InstanceSegmentation/mask_rcnn_dct24_R_50_FPN_1x.yaml \
        --num-gpus 8
    python tools/train_net.py --config-file ... --eval-only MODEL.WEIGHTS output/model_final.pth

Only what differs from Detectron2's DefaultTrainer is overridden: the DCT mapper in the
loaders, the COCO evaluator, and DistributedDataParallel without device ids on CPU. A missing
MODEL.PIXEL_STATS_FILE is computed first (main process, progress bar) and cached.
"""
import os
import weakref

import torch
from detectron2.data import build_detection_test_loader, build_detection_train_loader
from detectron2.engine import (
    AMPTrainer, DefaultTrainer, SimpleTrainer, create_ddp_model, default_argument_parser, default_setup,
    launch,
)
from detectron2.utils import comm

import freqdet  # noqa: F401  (registers backbones, meta-arch, demo datasets)
from freqdet.config import load_config
from freqdet.data import DCTDatasetMapper, ensure_dct_stats
from freqdet.data.resumable import build_resumable_detection_train_loader
from freqdet.evaluation import COCOEvaluator  # Detectron2's, for json from any tool
from freqdet.engine.resume import ResumableTrainerMixin
from freqdet.engine import SkippedImagesHook, add_gate_hook, insert_gate_hook, write_gate_outputs_for_cfg
from freqdet.safe_load import SafeCheckpointer


class Trainer(ResumableTrainerMixin, DefaultTrainer):
    def __init__(self, cfg):
        # DefaultTrainer.__init__ wraps the model with DDP(device_ids=[local_rank]), which
        # DDP rejects for CPU modules; this is the same construction with device_ids=None
        # on CPU (gloo), so multi-process training also runs without GPUs.
        super(DefaultTrainer, self).__init__()
        cfg = DefaultTrainer.auto_scale_workers(cfg, comm.get_world_size())
        model = self.build_model(cfg)
        optimizer = self.build_optimizer(cfg, model)
        self.train_mapper = DCTDatasetMapper(cfg, is_train=True)
        # Data as a function of (seed, iteration), so --resume continues the same stream (ResumableTrainerMixin).
        self.train_data = self.train_sampler = None
        self.total_batch = cfg.SOLVER.IMS_PER_BATCH
        if cfg.DATALOADER.SAMPLER_TRAIN == "TrainingSampler":
            seed = cfg.SEED if cfg.SEED >= 0 else comm.shared_random_seed()
            data_loader, self.train_data, self.train_sampler = build_resumable_detection_train_loader(
                cfg, self.train_mapper, seed)
        else:  # e.g. RepeatFactorTrainingSampler: Detectron2's loader, whose stream restarts on --resume
            data_loader = self.build_train_loader(cfg, self.train_mapper)
        ddp_kwargs = {} if torch.device(cfg.MODEL.DEVICE).type == "cuda" else {"device_ids": None}
        model = create_ddp_model(model, broadcast_buffers=False, **ddp_kwargs)
        self._trainer = (AMPTrainer if cfg.SOLVER.AMP.ENABLED else SimpleTrainer)(model, data_loader, optimizer)
        self.scheduler = self.build_lr_scheduler(cfg, optimizer)
        self.checkpointer = SafeCheckpointer(model, cfg.OUTPUT_DIR, trainer=weakref.proxy(self))
        self.start_iter = 0
        self.max_iter = cfg.SOLVER.MAX_ITER
        self.cfg = cfg
        self.register_hooks(self.build_hooks())

    def build_hooks(self):
        # MODEL.FREQ_GATE: temperature / lambda schedule, gate logging, final selection rates.
        ret = add_gate_hook(super().build_hooks(), self.cfg, self.build_test_loader)
        if self.train_mapper.skipped is not None:  # DATALOADER.SKIP_UNREADABLE_IMAGES: data/skipped_images
            ret = insert_gate_hook(ret, SkippedImagesHook(lambda: self.train_mapper.num_skipped))
        return ret

    @classmethod
    def build_train_loader(cls, cfg, mapper=None):
        return build_detection_train_loader(cfg, mapper=mapper or DCTDatasetMapper(cfg, is_train=True))

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        return build_detection_test_loader(cfg, dataset_name, mapper=DCTDatasetMapper(cfg, is_train=False))

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        output_folder = output_folder or os.path.join(cfg.OUTPUT_DIR, "inference", dataset_name)
        return COCOEvaluator(dataset_name, output_dir=output_folder)  # bbox, and segm when MASK_ON


def setup(args):
    cfg = load_config(args.config_file, args.opts)
    cfg.freeze()
    default_setup(cfg, args)
    return cfg


def main(args):
    cfg = setup(args)
    ensure_dct_stats(cfg)  # MODEL.PIXEL_STATS_FILE missing: computed on the main process, cached
    if args.eval_only:
        model = Trainer.build_model(cfg)
        SafeCheckpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume)
        results = Trainer.test(cfg, model)
        write_gate_outputs_for_cfg(cfg, model, Trainer.build_test_loader)  # only with MODEL.FREQ_GATE
        return results
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


if __name__ == "__main__":
    args = default_argument_parser().parse_args()
    print("Command Line Args:", args)
    launch(
        main,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
    )
