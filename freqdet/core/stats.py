"""Per-channel DCT statistics: the accumulator and the JSON file format every consumer reads.

Statistics are keyed by channel index (natural order, ``c*64 + u*8 + v``) so one file
serves every channel subset: a model takes the entries of the channels it selects.

A file also records what it was measured on, its ``"identity"``: a plain nested dict that the
detection and classification sides fill (dataset fingerprint, s, augmentation, crop size ...),
and ``"auto": true`` when a trainer made it on its own (files from ``tools/compute_dct_stats.py``
or written by hand have no such mark). :func:`check_stats_file` compares a file's identity with a
run's; the caller decides what a difference means (recompute an automatic file, refuse a user's).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Optional

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


def save_dct_stats(path: str, channels, mean, std, identity: Optional[Mapping] = None, auto: bool = False,
                   **meta) -> dict:
    """Write ``{"format", "identity", "auto", **meta, "channels", "mean", "std"}`` with per-index dicts;
    returns the dict.

    ``identity``: what the statistics were measured on (see :func:`check_stats_file`); ``auto``: made by
    a trainer on its own, so it may replace the file when a run needs other statistics. Written to a
    temporary file and renamed, so a killed job never leaves half a file behind.
    """
    chans = parse_channels(channels)
    data = {
        "format": STATS_FORMAT,
        **({"identity": dict(identity)} if identity is not None else {}),
        **({"auto": True} if auto else {}),
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
    data = _read_stats_json(path, key)
    if upsample is not None and data.get("upsample") is not None and int(data["upsample"]) != int(upsample):
        raise ValueError(
            f"{where}: statistics were measured at upsample s={data['upsample']}, but INPUT.DCT.UPSAMPLE is "
            f"{upsample} (coefficient scales differ with s); delete the file (tools/train_net.py computes a "
            "missing one), recompute it with tools/compute_dct_stats.py or point the key at another file"
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


def _read_stats_json(path: str, key: str) -> dict:
    """The JSON object of a statistics file; errors name ``key`` and the file."""
    where = f"{key}={path!r}"
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{where}: the DCT statistics file does not exist; create it with tools/compute_dct_stats.py"
        ) from None
    except IsADirectoryError:
        raise ValueError(f"{where} is a directory; the key names the statistics JSON file itself") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{where}: the DCT statistics file is not valid JSON ({e}); delete it to recompute") from None
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a JSON object with 'mean' and 'std', got {type(data).__name__}")
    fmt = data.get("format", STATS_FORMAT)  # files from before the field existed have the same layout
    if fmt != STATS_FORMAT:
        raise ValueError(f"{where}: format {fmt!r} is not {STATS_FORMAT!r} (not a freqdet DCT statistics file)")
    return data


# ---- What a statistics file describes ------------------------------------------------------------

def files_fingerprint(paths: Iterable[str]) -> str:
    """A cheap content fingerprint of a set of image files: a hash of their sorted (name, size in bytes).

    Names are taken relative to the files' common folder, so moving or copying a dataset keeps its
    fingerprint, while adding, removing, renaming or rewriting images changes it. One ``stat`` per
    file; a file that cannot be stat'ed (missing, remote) counts with size -1.
    """
    paths = [str(p) for p in paths]
    try:
        root = os.path.commonpath([os.path.dirname(p) for p in paths]) if paths else ""
    except ValueError:  # absolute and relative paths mixed
        root = ""
    cut = len(root) + 1 if root else 0
    entries = []
    for p in paths:
        try:
            size = os.stat(p).st_size
        except OSError:
            size = -1
        entries.append(f"{p[cut:]}\t{size}")
    digest = hashlib.sha1("\n".join(sorted(entries)).encode("utf-8"))
    return digest.hexdigest()[:16]


def _flat(identity: Mapping, prefix: str = "") -> dict:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``, after a JSON round trip (tuples become lists, as in a file)."""
    out = {}
    for k, v in json.loads(json.dumps(identity)).items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


@dataclass(frozen=True)
class StatsFileCheck:
    """A statistics file compared with a run (:func:`check_stats_file`).

    ``recorded``: the file's identity (flattened, ``"dataset.fingerprint"``), None when the file does
    not exist or predates identities (it cannot be checked). ``differences``: ``(field, file's value,
    run's value)`` of each compared field that differs. ``expected``: the run's identity (flattened).
    """

    path: str
    exists: bool
    auto: bool = False
    recorded: Optional[dict] = None
    expected: dict = field(default_factory=dict)
    differences: tuple = ()
    described: tuple = ()  # fields shown in messages but not compared

    @property
    def checkable(self) -> bool:
        return self.recorded is not None

    @property
    def matches(self) -> bool:
        """The file exists, records an identity, and it equals the run's in every compared field."""
        return self.exists and self.checkable and not self.differences

    def summary(self) -> str:
        """``field: the file's X, this run's Y; ...``, then the file's descriptive fields (which dataset it
        was made for) and the run's where they differ."""
        parts = [f"{k}: the file's {a!r}, this run's {b!r}" for k, a, b in self.differences]
        recorded = self.recorded or {}
        mine = [f"{k}={recorded[k]!r}" for k in self.described if k in recorded]
        theirs = [f"{k}={self.expected[k]!r}" for k in self.described
                  if k in self.expected and self.expected[k] != recorded.get(k)]
        if mine:
            parts.append("the file was made for " + ", ".join(mine))
        if theirs:
            parts.append("this run has " + ", ".join(theirs))
        return "; ".join(parts)


def check_stats_file(path: str, expected: Mapping, ignore: Iterable[str] = (),
                     key: str = "MODEL.PIXEL_STATS_FILE") -> StatsFileCheck:
    """Compare the identity recorded in the statistics file ``path`` with a run's ``expected`` identity.

    Every field of ``expected`` is compared except those in ``ignore`` (dotted names such as
    ``"dataset.name"``: recorded for people, shown in messages, but they do not change the numbers).
    A field the file lacks counts as different. Fields only the file has are not compared. A file
    that is not a statistics file raises the errors of :func:`load_dct_stats`, naming ``key``.
    """
    if not os.path.exists(path):
        return StatsFileCheck(path, exists=False, expected=_flat(expected))
    data = _read_stats_json(path, key)
    ignore = tuple(ignore)
    exp = _flat(expected)
    if not isinstance(data.get("identity"), dict):
        return StatsFileCheck(path, exists=True, auto=bool(data.get("auto")), expected=exp, described=ignore)
    rec = _flat(data["identity"])
    diffs = tuple((k, rec.get(k), v) for k, v in exp.items() if k not in ignore and rec.get(k) != v)
    return StatsFileCheck(path, True, bool(data.get("auto")), rec, exp, diffs, ignore)


class StatsMismatchError(ValueError):
    """A statistics file that describes other data than the run, refused where it cannot be replaced:
    a file the user made (never overwritten), or any file where no dataset is at hand to measure."""

    def __init__(self, check: StatsFileCheck, key: str, fix: str):
        self.check = check
        origin = ("It was computed automatically for another run." if check.auto else
                  "It has no \"auto\" mark (it was made by a tool such as tools/compute_dct_stats.py, or by "
                  "hand), so it is not replaced.")
        super().__init__(f"{key}={check.path!r} was measured on other data than this run uses "
                         f"({check.summary()}). {origin} To fix: {fix}")
