"""Per-channel DCT statistics: the JSON format tools/compute_dct_stats.py writes and configs read.

Statistics are keyed by channel index (natural order, ``c*64 + u*8 + v``) so one file
serves every channel subset: a model takes the entries of the channels it selects.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Optional

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
    used = 0
    for d in tqdm(dicts, desc=f"DCT stats {dataset_name}", unit="img"):
        d = {k: v for k, v in d.items() if k != "annotations"}  # only the image matters here
        out = mapper(d)
        if out is None:  # unreadable, DATALOADER.SKIP_UNREADABLE_IMAGES: the mapper logged it
            continue
        moments.update(out["image"].numpy())
        used += 1
    mean, std = moments.mean_std()
    return mapper.dct_channels, mean, std, used


logger = logging.getLogger(__name__)


def ensure_dct_stats(cfg) -> Optional[str]:
    """Compute and cache ``MODEL.PIXEL_STATS_FILE`` when it does not exist yet (what classification does).

    The main process measures all 192 channels over the first ``MODEL.PIXEL_STATS_MAX_IMAGES`` images
    of ``DATASETS.TRAIN[0]`` through the training mapper (``tools/compute_dct_stats.py``'s defaults, with
    a progress bar) and writes the file; the other processes wait for it. Returns the path, or None
    when the config uses inline ``PIXEL_MEAN``/``PIXEL_STD``. An existing file is left alone (and
    checked at model build).
    """
    from detectron2.utils import comm

    path = cfg.MODEL.PIXEL_STATS_FILE
    if not path:
        return None
    if not os.path.exists(path) and comm.is_main_process():
        if not cfg.DATASETS.TRAIN:
            raise FileNotFoundError(f"MODEL.PIXEL_STATS_FILE={path!r} does not exist and DATASETS.TRAIN is empty, "
                                    "so it cannot be computed; run tools/compute_dct_stats.py")
        dataset = cfg.DATASETS.TRAIN[0]
        max_images = cfg.MODEL.PIXEL_STATS_MAX_IMAGES
        logger.warning("MODEL.PIXEL_STATS_FILE=%r does not exist: computing the DCT statistics of all 192 channels "
                       "over %s images of %s (MODEL.PIXEL_STATS_MAX_IMAGES) and caching them there",
                       path, max_images or "all", dataset)
        full = cfg.clone()
        full.defrost()
        full.INPUT.DCT.CHANNELS = ["192"]
        chans, mean, std, n = compute_dct_stats(full, dataset, max_images)
        save_dct_stats(path, chans, mean, std, dataset=dataset, num_images=n, upsample=cfg.INPUT.DCT.UPSAMPLE,
                       input_format=cfg.INPUT.FORMAT, config="computed by freqdet.data.ensure_dct_stats")
        logger.info("wrote DCT statistics of %d images of %s to %s", n, dataset, path)
    comm.synchronize()
    return path


def load_dct_stat(path: str, channels, key: str, upsample: Optional[int] = None) -> list[float]:
    """``"mean"`` or ``"std"`` of :func:`load_dct_stats` alone: LazyConfigs set FreqRCNN's
    ``pixel_mean`` and ``pixel_std`` with one call each (``upsample``: checked against the file)."""
    if key not in ("mean", "std"):
        raise ValueError(f"key must be 'mean' or 'std', got {key!r}")
    # errors name the LazyConfig field the path is set in
    return load_dct_stats(path, channels, upsample=upsample, key=f"model.pixel_{key}.path")[0 if key == "mean" else 1]
