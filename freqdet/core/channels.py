"""Frequency-channel indices, named subsets and per-channel value arrays.

A channel index is ``c*64 + u*8 + v``: ``c`` the colour component (0 Y, 1 Cb, 2 Cr),
``u`` the vertical and ``v`` the horizontal frequency, in the natural row-major order
that libjpeg and the paper's code use. Zigzag rank is a separate notion (see
:func:`zigzag_order`), never the index.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable, Mapping, Sequence, Union

import numpy as np

COMPONENTS = ("Y", "Cb", "Cr")
NUM_CHANNELS = 192

# Square subsets of the paper's released code: natural indices per component, (Y, CbCr).
_SQUARE = {
    6: ([0, 1, 8, 9], [0]),
    24: ([0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27], [0, 1, 8, 9]),
    32: ([0, 1, 2, 3, 4, 8, 9, 10, 11, 12, 16, 17, 18, 19, 20, 24, 25, 26, 27, 32, 33, 34],
         [0, 1, 2, 8, 9]),
    48: ([*range(0, 6), *range(8, 14), *range(16, 22), *range(24, 30), *range(32, 36),
          *range(40, 44)], [0, 1, 2, 8, 9, 10, 16, 17]),
    64: ([*range(0, 7), *range(8, 15), *range(16, 22), *range(24, 30), *range(32, 38),
          *range(40, 46), *range(48, 54)], [0, 1, 2, 8, 9, 10, 16, 17, 24, 25]),
    192: (list(range(64)), list(range(64))),
}

ChannelSpec = Union[str, int, Sequence[int]]


@lru_cache(maxsize=None)
def zigzag_order() -> tuple[int, ...]:
    """Natural indices ``u*8+v`` of one 8x8 block listed in JPEG zigzag order."""
    cells = [(u, v) for u in range(8) for v in range(8)]
    # Anti-diagonals s = u+v; odd ones run top-right to bottom-left (u rising), even ones the reverse.
    cells.sort(key=lambda uv: (uv[0] + uv[1], uv[0] if (uv[0] + uv[1]) % 2 else uv[1]))
    return tuple(u * 8 + v for u, v in cells)


def zigzag_rank(index: int) -> int:
    """Zigzag position (0..63) of the frequency ``index % 64``."""
    return zigzag_order().index(index % 64)


def channel_name(index: int) -> str:
    """Human-readable name, e.g. ``Y(0,1)`` for index 1."""
    c, k = divmod(index, 64)
    return f"{COMPONENTS[c]}({k // 8},{k % 8})"


def _compose(y: Iterable[int], cbcr: Iterable[int]) -> list[int]:
    cbcr = list(cbcr)
    return [*y, *(64 + k for k in cbcr), *(128 + k for k in cbcr)]


def named_subsets() -> dict[str, list[int]]:
    """Every named subset: the square ones (``"24"``) and their triangle twins (``"24T"``)."""
    zz = zigzag_order()
    out = {}
    for n, (y, cbcr) in _SQUARE.items():
        out[str(n)] = _compose(y, cbcr)
        out[f"{n}T"] = _compose(sorted(zz[: len(y)]), sorted(zz[: len(cbcr)]))
    return out


def _validate(indices: Sequence[int], spec) -> list[int]:
    seen = set()
    for i in indices:
        if isinstance(i, bool) or not isinstance(i, int):
            raise ValueError(f"channel spec {spec!r}: entry {i!r} is not an integer")
        if not 0 <= i < NUM_CHANNELS:
            raise ValueError(f"channel spec {spec!r}: index {i} is outside 0..{NUM_CHANNELS - 1}")
        if i in seen:
            raise ValueError(f"channel spec {spec!r}: index {i} appears twice")
        seen.add(i)
    if not indices:
        raise ValueError(f"channel spec {spec!r} selects no channel")
    return list(indices)


def parse_channels(spec: ChannelSpec) -> list[int]:
    """Turn a subset spec into a list of channel indices, in output order.

    Accepts a name (``"24"``, ``24``, ``"24T"``, ``"192"``), a comma-separated string of
    indices (``"0,1,64"``) or a sequence of indices. Raises ``ValueError`` naming the bad
    entry for unknown names, out-of-range or duplicate indices.
    """
    if isinstance(spec, Sequence) and not isinstance(spec, str):  # also OmegaConf's ListConfig
        return _validate(list(spec), spec)
    if hasattr(spec, "tolist"):  # NumPy / torch arrays
        return _validate([int(i) for i in spec.tolist()], spec)
    if isinstance(spec, int) and not isinstance(spec, bool):
        spec = str(spec)
    if not isinstance(spec, str):
        raise ValueError(f"channel spec {spec!r} must be a name, a comma-separated string or a list")
    text = spec.strip()
    names = named_subsets()
    if text.upper() in names:
        return names[text.upper()]
    if "," in text:
        entries = [e.strip() for e in text.split(",") if e.strip()]
        for e in entries:
            if not re.fullmatch(r"\d+", e):
                raise ValueError(f"channel spec {spec!r}: entry {e!r} is not an integer")
        return _validate([int(e) for e in entries], spec)
    raise ValueError(
        f"unknown channel subset {spec!r}; known names: {', '.join(names)}, "
        "or a list of indices c*64+u*8+v"
    )


Values = Union[Sequence[float], np.ndarray, Mapping[int, float]]


def as_channel_array(values: Values) -> np.ndarray:
    """192 floats indexed by channel, from a sequence or a mapping keyed by index (``{"0": v}``, as
    the per-channel JSON files store values); a mapping may leave channels out (they become NaN)."""
    if isinstance(values, Mapping):
        out = np.full(NUM_CHANNELS, np.nan)
        for k, v in values.items():
            i = int(k)
            if not 0 <= i < NUM_CHANNELS:
                raise ValueError(f"channel index {k!r} is outside 0..{NUM_CHANNELS - 1}")
            out[i] = float(v)
        return out
    out = np.asarray(values, dtype=np.float64)
    if out.shape != (NUM_CHANNELS,):
        raise ValueError(f"expected {NUM_CHANNELS} per-channel values, got shape {out.shape}")
    return out
