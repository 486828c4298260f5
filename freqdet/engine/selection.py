"""Per-channel selection rates of a trained gate: measured over a data set, saved as JSON.

The JSON keys rates by channel index (``"0"`` .. ``"191"``), like the DCT statistics file, so
``tools/channel_heatmap.py`` and ``tools/select_channels.py`` read either kind of per-channel
file the same way.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Union

import numpy as np
import torch
from torch import nn

from ..dct.channels import COMPONENTS, NUM_CHANNELS, channel_name, zigzag_rank
from ..modeling.gate import FrequencyGate, find_gates
from ..visualize import as_channel_array

FORMAT = "freqdet.selection_rates/1"


class _GateReached(Exception):
    """Raised by a forward hook to skip everything after the gate (only the mask is needed)."""


def _default_run(model: nn.Module, batch: Any) -> Any:
    # Classification loaders yield (images, labels); Detectron2 loaders yield list[dict].
    if isinstance(batch, (tuple, list)) and len(batch) == 2 and isinstance(batch[0], torch.Tensor):
        return model(batch[0])
    return model(batch)


def compute_selection_rates(
    model: nn.Module,
    data_loader: Iterable,
    run: Optional[Callable[[nn.Module, Any], Any]] = None,
    max_batches: Optional[int] = None,
) -> tuple[np.ndarray, int]:
    """Fraction of images for which the (deterministic, eval-mode) gate keeps each channel.

    Returns ``(rates, num_images)``; :func:`gate_statistics` says how they are measured.
    """
    rates, _, count = gate_statistics(model, data_loader, run=run, max_batches=max_batches)
    return rates, count


@torch.no_grad()
def gate_statistics(
    model: nn.Module,
    data_loader: Iterable,
    run: Optional[Callable[[nn.Module, Any], Any]] = None,
    max_batches: Optional[int] = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """``(rates, on_probability, num_images)`` of the model's gate over ``data_loader``, in one pass.

    ``rates``: fraction of images for which the deterministic, eval-mode gate (``on > off``) keeps
    each channel. ``on_probability``: each channel's mean probability of being on under the
    training-time hard Gumbel-softmax, sigmoid(on - off) whatever the temperature: the gate's
    preference order even where no channel passes ``on > off`` (a collapsed inference mask).
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
    run = run or _default_run
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
            total_p += torch.sigmoid(logits[..., 1].double() - logits[..., 0].double()).cpu().sum(dim=0)
            count += mask.shape[0]
            gate.last_mask = gate.last_logits = None
    finally:
        handle.remove()
        model.train(was_training)

    from detectron2.utils import comm

    if comm.get_world_size() > 1:
        parts = comm.all_gather((total, total_p, count))
        total, total_p, count = (sum(p[j] for p in parts) for j in range(3))
    if count == 0:
        raise ValueError("the data loader gave no images")
    return (total / count).numpy(), (total_p / count).numpy(), count


def rates_summary(rates: np.ndarray) -> dict[str, Any]:
    """Expected number of channels on per image, overall and per component (Y, Cb, Cr)."""
    rates = np.asarray(rates, dtype=np.float64)
    per = rates.reshape(len(COMPONENTS), -1).sum(axis=1)
    return {
        "mean_channels_on": float(rates.sum()),
        "channels_on_per_component": {c: float(v) for c, v in zip(COMPONENTS, per)},
    }


def save_selection_rates(path: Union[str, Path], rates: np.ndarray, num_images: int, **meta: Any) -> Path:
    """Write ``rates`` (one per channel) with a summary and free-form ``meta`` (data set, iteration)."""
    rates = np.asarray(rates, dtype=np.float64)
    if rates.shape != (NUM_CHANNELS,):
        raise ValueError(f"expected {NUM_CHANNELS} selection rates, got shape {rates.shape}")
    payload = {
        "format": FORMAT,
        "num_images": int(num_images),
        **rates_summary(rates),
        **meta,
        "rates": {str(i): round(float(r), 6) for i, r in enumerate(rates)},
        "names": {str(i): channel_name(i) for i in range(NUM_CHANNELS)},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1))
    return path


def per_channel_values(data: Union[Mapping, list], key: str = "rates") -> np.ndarray:
    """192 floats from a per-channel JSON: ``{key: {"0": v, ...}}``, ``{"0": v, ...}`` or a list."""
    if isinstance(data, Mapping) and key in data:
        data = data[key]
    out = as_channel_array(data)
    if np.isnan(out).any():
        missing = np.flatnonzero(np.isnan(out))
        raise ValueError(f"no value for channels {missing[:10].tolist()}{' ...' if len(missing) > 10 else ''}")
    return out


def load_selection_rates(path: Union[str, Path]) -> np.ndarray:
    """The 192 selection rates of a JSON written by :func:`save_selection_rates`."""
    return per_channel_values(json.loads(Path(path).read_text()), "rates")


def select_from_rates(
    rates: np.ndarray,
    top_k: Optional[int] = None,
    per_component: Optional[tuple[int, int, int]] = None,
    threshold: Optional[float] = None,
) -> list[int]:
    """A static channel subset, ascending indices, from selection rates; give exactly one rule.

    - ``top_k``: the K channels with the highest rates overall.
    - ``per_component``: (nY, nCb, nCr) highest-rate channels of each component (the paper's
      subsets are shaped this way, e.g. 16/4/4 for 24).
    - ``threshold``: every channel selected for at least that fraction of images.
    Ties go to the lower frequency (zigzag rank), then to the lower index, so a gate that
    keeps everything (or nothing) still gives the low-frequency subset.
    """
    rates = np.asarray(rates, dtype=np.float64)
    if rates.shape != (NUM_CHANNELS,):
        raise ValueError(f"expected {NUM_CHANNELS} rates, got shape {rates.shape}")
    if sum(x is not None for x in (top_k, per_component, threshold)) != 1:
        raise ValueError("give exactly one of top_k, per_component, threshold")

    def ranked(indices):
        return sorted(indices, key=lambda i: (-rates[i], zigzag_rank(i), i))

    if top_k is not None:
        if not 1 <= top_k <= NUM_CHANNELS:
            raise ValueError(f"top_k must be in 1..{NUM_CHANNELS}, got {top_k}")
        chosen = ranked(range(NUM_CHANNELS))[:top_k]
    elif per_component is not None:
        if len(per_component) != len(COMPONENTS) or any(not 0 <= n <= 64 for n in per_component):
            raise ValueError(f"per_component needs three counts in 0..64 (Y, Cb, Cr), got {per_component}")
        chosen = [i for c, n in enumerate(per_component) for i in ranked(range(64 * c, 64 * c + 64))[:n]]
    else:
        chosen = [i for i in range(NUM_CHANNELS) if rates[i] >= threshold]
    if not chosen:
        raise ValueError("the rule selects no channel")
    return sorted(chosen)
