"""Per-channel DCT statistics: the JSON format tools/compute_dct_stats.py writes and configs read.

Statistics are keyed by channel index (natural order, ``c*64 + u*8 + v``) so one file
serves every channel subset: a model takes the entries of the channels it selects.
"""
from __future__ import annotations

import json
import os

import numpy as np

from freqdet.dct import parse_channels


class RunningMoments:
    """Exact per-channel mean/std over many ``(C, h, w)`` tensors (float64 sums)."""

    def __init__(self, num_channels: int):
        self.count = 0
        self.sum = np.zeros(num_channels, dtype=np.float64)
        self.sumsq = np.zeros(num_channels, dtype=np.float64)
        self._shift = None  # first tensor's means: keeps the sum of squares well conditioned

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64).reshape(x.shape[0], -1)
        if self._shift is None:
            self._shift = x.mean(axis=1)
        d = x - self._shift[:, None]
        self.count += x.shape[1]
        self.sum += d.sum(axis=1)
        self.sumsq += (d * d).sum(axis=1)

    def mean_std(self) -> tuple[np.ndarray, np.ndarray]:
        if self.count == 0:
            raise ValueError("no values were accumulated")
        m = self.sum / self.count
        var = np.maximum(self.sumsq / self.count - m * m, 0.0)
        return m + self._shift, np.sqrt(var)


def save_dct_stats(path: str, channels, mean, std, **meta) -> dict:
    """Write ``{"channels", "mean", "std", **meta}`` with per-index dicts; returns the dict."""
    chans = parse_channels(channels)
    data = {
        **meta,
        "channels": chans,
        "mean": {str(c): float(m) for c, m in zip(chans, mean)},
        "std": {str(c): float(s) for c, s in zip(chans, std)},
    }
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f, indent=1)
    return data


def load_dct_stats(path: str, channels) -> tuple[list[float], list[float]]:
    """Mean and std of ``channels`` (in their order) from a stats JSON; clear errors otherwise."""
    chans = parse_channels(channels)
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"DCT statistics file {path!r} (MODEL.PIXEL_STATS_FILE) does not exist; "
            "create it with tools/compute_dct_stats.py"
        ) from None
    except json.JSONDecodeError as e:
        raise ValueError(f"DCT statistics file {path!r} is not valid JSON: {e}") from None
    out = []
    for key in ("mean", "std"):
        table = data.get(key) if isinstance(data, dict) else None
        if not isinstance(table, dict):
            raise ValueError(f"DCT statistics file {path!r} has no {key!r} mapping of channel index to value")
        missing = [c for c in chans if str(c) not in table]
        if missing:
            raise ValueError(
                f"DCT statistics file {path!r} lacks {key} for channels {missing[:8]}"
                f"{' ...' if len(missing) > 8 else ''}; recompute it with tools/compute_dct_stats.py "
                "for these channels (or all 192)"
            )
        out.append([float(table[str(c)]) for c in chans])
    if any(s <= 0 for s in out[1]):
        raise ValueError(f"DCT statistics file {path!r} has a non-positive std for a selected channel")
    return out[0], out[1]


def compute_dct_stats(cfg, dataset_name: str, max_images: int = 0, seed: int = 0):
    """``(channels, mean, std, num_images)`` of the DCT tensors the training mapper of
    ``cfg`` makes from a registered dataset (first ``max_images`` images if > 0)."""
    from detectron2.data import DatasetCatalog
    from tqdm import tqdm

    from .dataset_mapper import DCTDatasetMapper

    dicts = DatasetCatalog.get(dataset_name)
    if max_images > 0:
        dicts = dicts[:max_images]
    if not dicts:
        raise ValueError(f"dataset {dataset_name!r} has no images")
    np.random.seed(seed)  # Detectron2's augmentations draw from NumPy's global generator
    # Statistics are of float32 coefficients, also when the model computes them (ON_DEVICE).
    mapper = DCTDatasetMapper(**{**DCTDatasetMapper.from_config(cfg, is_train=True),
                                 "dct_on_device": False, "dct_dtype": np.float32})
    moments = RunningMoments(len(mapper.dct_channels))
    for d in tqdm(dicts, desc=f"DCT stats {dataset_name}", unit="img"):
        d = {k: v for k, v in d.items() if k != "annotations"}  # only the image matters here
        moments.update(mapper(d)["image"].numpy())
    mean, std = moments.mean_std()
    return mapper.dct_channels, mean, std, len(dicts)


def load_dct_stat(path: str, channels, key: str) -> list[float]:
    """``"mean"`` or ``"std"`` of :func:`load_dct_stats` alone: LazyConfigs set FreqRCNN's
    ``pixel_mean`` and ``pixel_std`` with one call each."""
    if key not in ("mean", "std"):
        raise ValueError(f"key must be 'mean' or 'std', got {key!r}")
    return load_dct_stats(path, channels)[0 if key == "mean" else 1]
