"""Per-channel DCT statistics: the accumulator and the JSON file format every consumer reads.

Statistics are keyed by channel index (natural order, ``c*64 + u*8 + v``) so one file
serves every channel subset: a model takes the entries of the channels it selects.
"""
from __future__ import annotations

import json
import os
from typing import Optional

import numpy as np

from .channels import parse_channels


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


# Written into every statistics file; a file naming another format is refused, not guessed at.
STATS_FORMAT = "freqdet-dct-stats/1"


def save_dct_stats(path: str, channels, mean, std, **meta) -> dict:
    """Write ``{"format", "channels", "mean", "std", **meta}`` with per-index dicts; returns the dict.

    Written to a temporary file and renamed, so a killed job never leaves half a file behind.
    """
    chans = parse_channels(channels)
    data = {
        "format": STATS_FORMAT,
        **meta,
        "channels": chans,
        "mean": {str(c): float(m) for c, m in zip(chans, mean)},
        "std": {str(c): float(s) for c, s in zip(chans, std)},
    }
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)
    return data


def load_dct_stats(path: str, channels, upsample: Optional[int] = None,
                   key: str = "MODEL.PIXEL_STATS_FILE") -> tuple[list[float], list[float]]:
    """Mean and std of ``channels`` (in their order) from a stats JSON; errors name ``key`` and the file.

    ``upsample``: the s the statistics must have been measured at (checked when the file records
    it; files written by hand without ``upsample`` are taken as they are). The file's
    ``input_format`` is not compared: the DCT is of YCbCr, identical for RGB and BGR reads.
    """
    chans = parse_channels(channels)
    where = f"{key}={path!r}"
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{where}: the DCT statistics file does not exist; create it with tools/compute_dct_stats.py"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{where}: the DCT statistics file is not valid JSON ({e}); delete it to recompute") from None
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a JSON object with 'mean' and 'std', got {type(data).__name__}")
    fmt = data.get("format", STATS_FORMAT)  # files from before the field existed have the same layout
    if fmt != STATS_FORMAT:
        raise ValueError(f"{where}: format {fmt!r} is not {STATS_FORMAT!r} (not a freqdet DCT statistics file)")
    if upsample is not None and data.get("upsample") is not None and int(data["upsample"]) != int(upsample):
        raise ValueError(
            f"{where}: statistics were measured at upsample s={data['upsample']}, but INPUT.DCT.UPSAMPLE is "
            f"{upsample} (coefficient scales differ with s); recompute them with tools/compute_dct_stats.py"
        )
    out = []
    for name in ("mean", "std"):
        table = data.get(name)
        if not isinstance(table, dict):
            raise ValueError(f"{where}: no {name!r} mapping of channel index to value")
        missing = [c for c in chans if str(c) not in table]
        if missing:
            raise ValueError(
                f"{where}: lacks {name} for channels {missing[:8]}"
                f"{' ...' if len(missing) > 8 else ''}; recompute it with tools/compute_dct_stats.py "
                "for these channels (or all 192)"
            )
        try:
            values = [float(table[str(c)]) for c in chans]
        except (TypeError, ValueError):
            raise ValueError(f"{where}: {name} holds a value that is not a number") from None
        if not np.all(np.isfinite(values)):
            bad = [c for c, v in zip(chans, values) if not np.isfinite(v)]
            raise ValueError(f"{where}: {name} is not finite for channels {bad[:8]}")
        out.append(values)
    bad = [c for c, s in zip(chans, out[1]) if s <= 0]
    if bad:
        raise ValueError(f"{where}: non-positive std for selected channels {bad[:8]}")
    return out[0], out[1]
