"""What a trained gate keeps: per-channel selection rates and on-probabilities over a data set."""
from __future__ import annotations

from typing import Any, Callable, Iterable, Optional

import numpy as np
import torch
from torch import nn

from freqdet.core.gate import FrequencyGate, find_gates, on_probability


class _GateReached(Exception):
    """Raised by a forward hook to skip everything after the gate (only the mask is needed)."""


@torch.no_grad()
def gate_statistics(
    model: nn.Module,
    data_loader: Iterable,
    run: Optional[Callable[[nn.Module, Any], Any]] = None,
    max_batches: Optional[int] = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """``(rates, on_probability, num_images)`` of the model's gate over ``data_loader``, in one pass.

    ``run(model, batch)`` feeds one batch (default ``model(batch)``: Detectron2 models and the
    classification trainer's model take their loaders' batches as they come).

    ``rates``: fraction of images for which the eval-mode gate keeps each channel, under the gate's
    own inference rule (``gate.inference``: the mask the model really uses at inference; a sample
    of it under ``"sample"``). ``on_probability``: each channel's mean probability of being on under
    the training-time hard Gumbel-softmax, sigmoid(on - off) whatever the temperature: the gate's
    preference order whatever the rule keeps (even where ``"on_greater_off"`` keeps nothing).
    Both of shape (C,), summed over all processes when distributed (each process sees its shard,
    as Detectron2's inference sampler gives). The forward stops right after the gate, so this
    costs data loading plus the gate, not a full detector inference.
    """
    while isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
        model = model.module
    gates = find_gates(model)
    if len(gates) != 1:
        raise ValueError(f"expected exactly one FrequencyGate in the model, found {len(gates)}")
    gate: FrequencyGate = gates[0]
    run = run or (lambda m, batch: m(batch))
    total = torch.zeros(gate.channels, dtype=torch.float64)
    total_p = torch.zeros(gate.channels, dtype=torch.float64)
    count = 0

    def stop(module, inputs, output):
        raise _GateReached

    was_training = model.training
    model.eval()
    handle = gate.register_forward_hook(stop)
    try:
        for i, batch in enumerate(data_loader):
            if max_batches is not None and i >= max_batches:
                break
            try:
                run(model, batch)
            except _GateReached:
                pass
            mask, logits = gate.last_mask, gate.last_logits
            if mask is None:
                raise RuntimeError("the model's forward did not reach its FrequencyGate")
            total += mask.detach().to("cpu", torch.float64).sum(dim=0)
            total_p += on_probability(logits).detach().to("cpu", torch.float64).sum(dim=0)
            count += mask.shape[0]
            gate.last_mask = gate.last_logits = None
    finally:
        handle.remove()
        model.train(was_training)

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        parts = [None] * torch.distributed.get_world_size()
        torch.distributed.all_gather_object(parts, (total, total_p, count))
        total, total_p, count = (sum(p[j] for p in parts) for j in range(3))
    if count == 0:
        raise ValueError("the data loader gave no images")
    return (total / count).numpy(), (total_p / count).numpy(), count
