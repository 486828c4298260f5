"""Per-channel selection rates of a trained gate: the JSON file and the static subsets read from it.

The JSON keys rates by channel index (``"0"`` .. ``"191"``), like the DCT statistics file, so
``tools/channel_heatmap.py`` and ``tools/select_channels.py`` read either kind of per-channel
file the same way. A subset picked from the rates is written as config lines
(:func:`static_subset_yaml`): at inference a static subset needs neither the gate nor the
channels it leaves out.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import numpy as np

from .channels import COMPONENTS, NUM_CHANNELS, as_channel_array, channel_name, zigzag_rank


FORMAT = "freqdet.selection_rates/1"

# Where a detection config (freqdet.detection.config) keeps a static subset and its normalization.
# Written here as plain YAML text, so picking a subset needs no Detectron2.
CHANNELS_KEY = ("INPUT", "DCT", "CHANNELS")
MEAN_KEY = ("MODEL", "PIXEL_MEAN")
STD_KEY = ("MODEL", "PIXEL_STD")
STATS_FILE_KEY = ("MODEL", "PIXEL_STATS_FILE")  # cleared: inline mean/std apply only without it
GATE_KEY = ("MODEL", "FREQ_GATE", "ENABLED")  # a static subset replaces the gate


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


def describe_subset(channels: list[int], rates: np.ndarray) -> str:
    """What a subset keeps, two lines: ``24 channels, Y 16, Cb 4, Cr 4`` and ``lowest kept rate 0.300 (Cb(0,1))``."""
    rates = np.asarray(rates, dtype=np.float64)
    counts = ", ".join(f"{c} {sum(1 for i in channels if i // 64 == k)}" for k, c in enumerate(COMPONENTS))
    lowest = min(channels, key=lambda i: rates[i])
    return f"{len(channels)} channels, {counts}\nlowest kept rate {rates[lowest]:.3f} ({channel_name(int(lowest))})"


def _floats(values) -> str:
    return "[" + ", ".join(f"{float(v):.6g}" for v in values) + "]"


def static_subset_yaml(
    channels: list[int],
    mean=None,
    std=None,
    base_config: Optional[str] = None,
    comment: str = "",
) -> str:
    """YAML text of a config that uses ``channels`` instead of the gate: nested keys, one-line lists.

    ``mean``/``std``: the statistics of exactly ``channels``, in their order; they replace the
    statistics file of the base config. ``base_config`` makes the text a complete config
    (``_BASE_``); ``comment`` lines go on top.
    """
    tree: dict = {}

    def put(key, text):
        node = tree
        for k in key[:-1]:
            node = node.setdefault(k, {})
        node[key[-1]] = text

    put(GATE_KEY, "False")
    if mean is not None:
        put(STATS_FILE_KEY, '""')
        put(MEAN_KEY, _floats(mean))
        put(STD_KEY, _floats(std))
    put(CHANNELS_KEY, "[" + ", ".join(str(c) for c in channels) + "]")

    lines = [f"# {line}" for line in comment.splitlines()]
    if base_config:
        lines.append(f'_BASE_: "{base_config}"')

    def emit(node, depth):
        for k, v in node.items():
            if isinstance(v, dict):
                lines.append("  " * depth + f"{k}:")
                emit(v, depth + 1)
            else:
                lines.append("  " * depth + f"{k}: {v}")

    emit(tree, 0)
    return "\n".join(lines) + "\n"
