"""What Detectron2's checkpoint lacks for a resumed run to end with the uninterrupted run's weights.

A checkpoint holds model, optimizer, scheduler and iteration; a resumed run still differs when
(a) the data stream restarts (fixed by :mod:`freqdet.data.resumable`: data is a function of
(seed, position)), and (b) the global torch generator, which draws ROI/anchor sampling and the
gate's Gumbel noise, starts from the seed instead of where it was. This mixin saves the data seed
and the generator states with the trainer and restores them, and starts the data stream at the
resumed iteration. (The gate's tau/lambda are functions of the iteration: nothing to save.)
"""
from __future__ import annotations

import torch

__all__ = ["ResumableTrainerMixin", "get_rng_state", "set_rng_state"]


def get_rng_state() -> dict:
    """Global torch generator states (CPU, and every CUDA device when present), weights-only loadable."""
    state = {"cpu": torch.random.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.random.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class ResumableTrainerMixin:
    """For a Detectron2 ``TrainerBase`` whose loader is a :class:`PositionDataset` (``self.train_data``,
    None for other loaders) fed by a :class:`PositionSampler` (``self.train_sampler``), with
    ``self.total_batch`` images per iteration over all processes."""

    def state_dict(self):
        ret = super().state_dict()
        ret["rng"] = get_rng_state()
        if getattr(self, "train_data", None) is not None:
            ret["data_seed"] = self.train_data.seed
        return ret

    def load_state_dict(self, state):
        super().load_state_dict(state)
        if "rng" in state:
            set_rng_state(state["rng"])
        if "data_seed" in state and getattr(self, "train_data", None) is not None:
            self.train_data.seed = int(state["data_seed"])

    def resume_or_load(self, resume: bool = True):
        super().resume_or_load(resume=resume)
        if getattr(self, "train_sampler", None) is not None:
            self.train_sampler.start = self.start_iter * self.total_batch  # where the data stream was
