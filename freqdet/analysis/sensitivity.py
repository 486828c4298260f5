"""Spectral sensitivity: the accuracy a trained DCT model loses when one frequency unit is removed.

A unit (one channel, one 2x2 band of a component's 8x8 grid, or one colour component) is
removed at inference by zeroing its channels in the model's *normalized* input, i.e. setting
each raw coefficient to its training-set mean. Why the mean and not a raw 0: for AC channels
the two coincide (their means are ~0), but a raw-zero DC would turn every block flat mid-grey,
an input far outside the training distribution, so the drop would measure that shift rather
than the information the channel carries. Zero is also what the frequency gate writes for a
channel it switches off, so the drops compare directly with its selection rates.

The zeroing is a forward pre-hook on the module that receives the normalized (and, with
MODEL.FREQ_GATE, gated) input: ``model.backbone`` for FreqRCNN, the network for a classifier.
Evaluation itself is the caller's plain one (COCOEvaluator via ``inference_on_dataset``, or the
classifier's ``evaluate``), run once per unit on the same cached inputs.
"""
from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Callable, Iterable, NamedTuple, Optional, Sequence

import numpy as np
import torch
from torch import nn

from freqdet.core.channels import COMPONENTS, NUM_CHANNELS, channel_name

__all__ = ["UNITS", "SensitivityTarget", "compare_rankings", "drops_per_channel", "frequency_units", "plot_drops",
           "ranking_vs_subset", "sensitivity", "write_sensitivity_report", "zero_channels"]

UNITS = ("channel", "band", "component")


def frequency_units(channels: Sequence[int], unit: str) -> list[dict]:
    """``[{"name", "channels"}]`` partitioning the model's ``channels`` into ``unit``s (empty ones left out)."""
    channels = [int(c) for c in channels]
    present = set(channels)
    if unit == "channel":
        return [{"name": channel_name(c), "channels": [c]} for c in channels]
    if unit == "band":  # 2x2 frequency bands (u//2, v//2) of each component: 16 per component
        out = []
        for comp, name in enumerate(COMPONENTS):
            for bu in range(4):
                for bv in range(4):
                    members = [comp * 64 + u * 8 + v for u in (2 * bu, 2 * bu + 1) for v in (2 * bv, 2 * bv + 1)]
                    members = [c for c in members if c in present]
                    if members:
                        out.append({"name": f"{name} u{2 * bu}-{2 * bu + 1} v{2 * bv}-{2 * bv + 1}", "channels": members})
        return out
    if unit == "component":
        out = [{"name": name, "channels": [c for c in channels if c // 64 == comp]} for comp, name in enumerate(COMPONENTS)]
        return [u for u in out if u["channels"]]
    raise ValueError(f"unit must be one of {UNITS}, got {unit!r}")


@contextlib.contextmanager
def zero_channels(module: nn.Module, positions: Sequence[int]):
    """While active, ``module``'s first input has channels ``positions`` (dim 1) set to 0."""
    index = torch.as_tensor(list(positions), dtype=torch.long)

    def hook(_module, args):
        x = args[0].clone()
        x[:, index.to(x.device)] = 0
        return (x, *args[1:])

    handle = module.register_forward_pre_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def sensitivity(evaluate: Callable[[], dict], module: nn.Module, model_channels: Sequence[int],
                units: Iterable[dict], progress: bool = True) -> dict:
    """Baseline metrics and, per unit, the metrics with its channels zeroed and the drops.

    ``evaluate()`` returns a flat ``{metric: value}`` of one plain evaluation; ``module`` is the one
    whose input is the normalized DCT tensor with ``model_channels`` in order along dim 1.
    """
    from tqdm import tqdm

    position = {int(c): i for i, c in enumerate(model_channels)}
    baseline = evaluate()
    rows = []
    units = list(units)
    for unit in tqdm(units, desc="units", disable=not progress):
        with zero_channels(module, [position[c] for c in unit["channels"]]):
            metrics = evaluate()
        rows.append({**unit, "metrics": metrics, "drop": {k: baseline[k] - v for k, v in metrics.items()}})
    return {"baseline": baseline, "units": rows}


def drops_per_channel(rows: Sequence[dict], metric: str) -> dict:
    """``{channel index: drop of its unit}`` (every channel of a unit gets the unit's drop)."""
    out = {}
    for row in rows:
        for c in row["channels"]:
            if not 0 <= c < NUM_CHANNELS:
                raise ValueError(f"channel {c} outside 0..{NUM_CHANNELS - 1}")
            out[str(c)] = float(row["drop"][metric])
    return out


def ranking_vs_subset(drops: dict, subset: str = "24") -> dict:
    """How many of the ``len(subset)`` channels whose removal costs most are in the named static subset
    (the paper's square-24 by default): the check of its low-frequency choice against this model.

    :func:`compare_rankings` counts the same for any unit; this channel-level form stays because its
    JSON (``ranking_vs_square24``) lists channel indices and fixes ``top_k`` to the subset's size.
    """
    from freqdet.core import named_subsets

    members = set(named_subsets()[subset])
    ranked = sorted(drops, key=lambda c: -drops[c])[:len(members)]
    return {"subset": subset, "top_k": len(members), "in_subset": sum(int(c) in members for c in ranked),
            "top_channels": [int(c) for c in ranked]}


def _spearman(a: np.ndarray, b: np.ndarray):
    """Spearman's rank correlation (ties get their mean rank); None when either side is constant."""
    def ranks(x):
        order = np.argsort(x, kind="stable")
        r = np.empty(len(x))
        r[order] = np.arange(len(x))
        _, groups = np.unique(x, return_inverse=True)
        return (np.bincount(groups, r) / np.bincount(groups))[groups]

    ra, rb = ranks(np.asarray(a, float)), ranks(np.asarray(b, float))
    if ra.std() == 0 or rb.std() == 0:
        return None
    return float(np.corrcoef(ra, rb)[0, 1])


def compare_rankings(units: Sequence[dict], metric: str, rates=None, subset: str = "24") -> dict:
    """Unit by unit, does the ranking by accuracy drop agree with the static ``subset`` and the gate?

    ``k`` = the units lying wholly inside ``subset`` (square-24 is exactly 6 of the 48 bands: Y's four
    lowest, Cb's and Cr's lowest); reported: how many of the ``k`` costliest units are among them, and,
    with the gate's 192 selection ``rates``, each unit's mean rate, the same count for the ``k`` units
    the gate keeps most (None for a constant gate), and Spearman's correlation of drop and rate.
    """
    from freqdet.core import named_subsets

    members = set(named_subsets()[subset])
    names = [u["name"] for u in units]
    drop = np.array([float(u["drop"][metric]) for u in units])
    inside = [set(u["channels"]) <= members for u in units]
    k = sum(inside)
    top = lambda v: [int(i) for i in np.argsort(-v, kind="stable")[:k]]  # ties: unit order (low frequencies first)
    out = {"subset": subset, "metric": metric, "units_in_subset": [n for n, i in zip(names, inside) if i],
           "costliest_units": [names[i] for i in top(drop)], "costliest_in_subset": sum(inside[i] for i in top(drop))}
    if rates is not None:
        rates = np.asarray(rates, float)
        rate = np.array([rates[u["channels"]].mean() for u in units])
        ranked = rate.std() > 0  # a constant gate (e.g. all off) ranks nothing
        out.update({"gate_rate": dict(zip(names, rate.round(4).tolist())),
                    "gate_top_units": [names[i] for i in top(rate)] if ranked else None,
                    "gate_top_in_subset": sum(inside[i] for i in top(rate)) if ranked else None,
                    "spearman_drop_vs_gate_rate": _spearman(drop, rate)})
    return out


FORMAT = "freqdet.spectral_sensitivity/1"
ZEROING = "normalized input 0 (raw coefficient = its training mean)"


class SensitivityTarget(NamedTuple):
    """What :func:`write_sensitivity_report` measures: a trained model's plain evaluation and where to zero.

    ``evaluate()`` returns ``{metric: value}``; ``module`` receives the normalized DCT input whose dim 1
    holds ``channels``; ``metric`` is the default one of the heat map; ``task`` names it in the JSON.
    """

    task: str
    evaluate: Callable[[], dict]
    module: nn.Module
    channels: list
    metric: str
    num_images: int


def plot_drops(drops: dict, metric: str, path, title: str):
    """Drops on a symmetric red (lost) / blue (gained) scale, the gate heat map's three grids."""
    from freqdet.core.plots import plot_channel_grids

    values = np.array([v for v in drops.values() if np.isfinite(v)] or [0.0])
    lim = max(float(np.abs(values).max()), 1e-6)
    return plot_channel_grids(drops, path, title=title, colorbar_label=f"{metric} drop when zeroed",
                              vmin=-lim, vmax=lim, cmap="RdBu_r")


def write_sensitivity_report(target: SensitivityTarget, unit: str, output, metric: Optional[str] = None,
                             gate_rates_file: Optional[str] = None, progress: bool = True) -> dict:
    """Evaluate ``target`` with each ``unit`` zeroed; write the JSON to ``output`` and the drops of ``metric``
    as a heat map beside it (``.png``); returns the JSON's content.

    The JSON holds the baseline, every unit's metrics and drop, the drop per channel (``"drops"``), with
    ``unit="channel"`` on all 192 channels how many of the 24 costliest are in square-24, and ``"ranking"``
    (:func:`compare_rankings`, against the gate's selection rates when ``gate_rates_file`` is given).
    """
    from freqdet.core.selection import load_selection_rates

    rates = load_selection_rates(gate_rates_file) if gate_rates_file else None  # a bad file fails before evaluating
    metric = metric or target.metric
    result = sensitivity(target.evaluate, target.module, target.channels, frequency_units(target.channels, unit),
                         progress=progress)
    if metric not in result["baseline"]:
        raise ValueError(f"metric {metric!r} is not among the measured {sorted(result['baseline'])}")
    drops = drops_per_channel(result["units"], metric)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    data = {"format": FORMAT, "task": target.task, "unit": unit, "zeroing": ZEROING, "metric": metric,
            "num_images": target.num_images, "channels": [int(c) for c in target.channels], **result, "drops": drops}
    if unit == "channel" and len(drops) == NUM_CHANNELS:  # compare with the paper's square-24 subset
        data["ranking_vs_square24"] = ranking_vs_subset(drops, "24")
    data["ranking"] = compare_rankings(result["units"], metric, rates)
    if gate_rates_file:
        data["ranking"]["gate_rates_file"] = str(gate_rates_file)
    output.write_text(json.dumps(data, indent=1))
    top = sorted(result["units"], key=lambda r: -r["drop"][metric])[:3]
    title = (f"{metric} drop per {unit} ({target.num_images} images, baseline {result['baseline'][metric]:.2f}); "
             f"top: {', '.join(r['name'] for r in top)}")
    plot_drops(drops, metric, output.with_suffix(".png"), title)
    return data
