"""DistributedDataParallel on CPU as on GPU: the one place that knows DDP's CPU rule.

Detectron2's ``create_ddp_model`` passes ``device_ids=[local_rank]``, which DDP rejects for a
module on CPU; ``launch()`` itself runs CPU processes with gloo. So on a non-CUDA device
``device_ids`` must be None. :func:`create_ddp_model` is Detectron2's with that rule, and
:func:`default_trainer_ddp` makes ``DefaultTrainer.__init__`` (which calls Detectron2's function
directly) use it while it runs, so the rest of Detectron2's trainer stays as it is.
"""
from __future__ import annotations

import contextlib
import functools

import torch
from detectron2.engine import defaults

__all__ = ["create_ddp_model", "default_trainer_ddp"]

_D2_CREATE_DDP = defaults.create_ddp_model


def create_ddp_model(model, device, **kwargs):
    """Detectron2's ``create_ddp_model(model, **kwargs)``; without device ids unless ``device`` is CUDA."""
    if torch.device(device).type != "cuda":
        kwargs["device_ids"] = None
    return _D2_CREATE_DDP(model, **kwargs)


@contextlib.contextmanager
def default_trainer_ddp(device):
    """While active, ``DefaultTrainer`` wraps its model through :func:`create_ddp_model` for ``device``."""
    defaults.create_ddp_model = functools.partial(create_ddp_model, device=device)
    try:
        yield
    finally:
        defaults.create_ddp_model = _D2_CREATE_DDP
