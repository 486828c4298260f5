"""The block DCT of an image straight from its pixels: separable, strip by strip, only the
frequencies asked for, and at s=2 without ever building the enlarged image.

Why this is exact: colour conversion, bilinear x2 upsampling and the 8x8 DCT are all linear,
and the last two are separable. ``cv2.resize(INTER_LINEAR)`` x2 uses half-pixel centres
(enlarged sample 2k = .75 p[k] + .25 p[k-1], 2k+1 = .75 p[k] + .25 p[k+1], edges clamped), so
along each axis enlarged block b depends only on source samples 4b-1 .. 4b+4 through one fixed
8x6 matrix U: frequency u of that block is ``(D @ U)[u]`` applied to those six samples
(docs/design.md). At s=1 the taps are the DCT rows over samples 8b .. 8b+7. Replicating the
source's edge by one sample gives exactly the reference's replicate padding of the enlarged
image.

Why this is fast: each colour component is done on its own, at only its own vertical (u) and
horizontal (v) frequencies, so no (u, v) outside the subset is computed (for a square subset,
exactly the subset). Its vertical pass is one matrix product per strip over overlapping row
windows, with the YCbCr mixing folded into the matrix; its horizontal pass is one product over
non-overlapping column chunks whose shares are added. Strips of block rows keep the
intermediates in cache. float16 output goes through OpenCV's conversion. :mod:`.reference` is
the test oracle.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from numpy.lib.stride_tricks import as_strided
from threadpoolctl import ThreadpoolController

from .blockdct import BLOCK, _check_image, _check_upsample, dct_matrix
from .channels import ChannelSpec, parse_channels
from .color import LEVEL_SHIFT, forward_matrix

__all__ = ["image_to_dct", "upsample_taps"]

# Source rows per strip are about this many divided by the padded width (a ~0.5-1 MB float32 strip).
_STRIP_SAMPLES = 1 << 16
# The transform runs in data-loader workers, one image each: BLAS threads there only
# oversubscribe the cores (N workers x all-core BLAS pools), as torch's are by DataLoader.
_BLAS = ThreadpoolController()


@lru_cache(maxsize=None)
def upsample_taps() -> np.ndarray:
    """(8, 6) matrix U: enlarged samples 8b..8b+7 of cv2's bilinear x2 from source 4b-1..4b+4."""
    u = np.zeros((8, 6))
    for i in range(8):
        k, odd = divmod(i, 2)  # enlarged sample 8b+i sits at source 4b+k -/+ 1/4
        u[i, k + 1] += 0.75
        u[i, k + 2 if odd else k] += 0.25
    return u


def _axis_taps(freqs, upsample: int) -> np.ndarray:
    """(len(freqs), window) filter giving the frequencies ``freqs`` of a block along one axis."""
    d = dct_matrix()[np.asarray(freqs)]
    return d if upsample == 1 else d @ upsample_taps()


@dataclass(frozen=True)
class _Group:
    """The output channels of one colour component: its own vertical and horizontal frequencies,
    so that no (u, v) outside the subset is computed (square subsets: exactly the subset)."""

    vertical: np.ndarray  # (ku, window*3): rows u of this component, columns (row offset, colour)
    horizontal: np.ndarray  # (span*kv, step): rows (chunk j, v), chunk j's share of the horizontal taps
    pair_index: np.ndarray  # per channel of the group: its u row of `vertical`
    v_index: np.ndarray  # per channel of the group: its position among the group's horizontal frequencies
    rows: np.ndarray  # per channel of the group: its row in the output


@dataclass(frozen=True)
class _Plan:
    """Matrices and indices for one (channels, upsample, input_format); built once, cached."""

    step: int  # source samples per block along an axis (8/s)
    window: int  # source samples one block depends on (8, or 6 at s=2)
    lead: int  # samples replicated before the first one (1 at s=2: sample -1)
    span: int  # column chunks of `step` one window covers
    groups: tuple  # one _Group per colour component present

    @property
    def num_channels(self) -> int:
        return sum(len(g.rows) for g in self.groups)


def _horizontal_taps(freqs, upsample: int, span: int, step: int, window: int) -> np.ndarray:
    """(span*k, step): the horizontal taps of ``freqs`` cut into ``span`` chunks of ``step`` samples."""
    taps = np.zeros((len(freqs), span * step))
    taps[:, :window] = _axis_taps(freqs, upsample)
    return taps.reshape(len(freqs), span, step).transpose(1, 0, 2).reshape(span * len(freqs), step)


@lru_cache(maxsize=256)
def _plan(channels: tuple, upsample: int, input_format: str) -> _Plan:
    chans = np.asarray(channels)
    comp, u, v = chans // 64, chans % 64 // 8, chans % 8
    affine = forward_matrix(input_format)
    # Inputs are centred at 128 first; for JFIF that leaves no constant term to add to DC.
    assert np.allclose(affine[:, :3].sum(axis=1) * LEVEL_SHIFT + affine[:, 3], 0)
    step, window = BLOCK // upsample, (8 if upsample == 1 else 6)
    span = -(-window // step)
    groups = []
    for c in np.unique(comp):
        rows = np.flatnonzero(comp == c)
        freqs_u, freqs_v = np.unique(u[rows]), np.unique(v[rows])
        vertical = _axis_taps(freqs_u, upsample)[:, :, None] * affine[c, None, None, :3]
        groups.append(_Group(
            vertical=vertical.reshape(len(freqs_u), window * 3).astype(np.float32),
            horizontal=_horizontal_taps(freqs_v, upsample, span, step, window).astype(np.float32),
            pair_index=np.searchsorted(freqs_u, u[rows]), v_index=np.searchsorted(freqs_v, v[rows]), rows=rows,
        ))
    return _Plan(step=step, window=window, lead=(window - step) // 2, span=span, groups=tuple(groups))


def _row_windows(x: np.ndarray, count: int, length: int, step: int) -> np.ndarray:
    """(count, length, cols) read-only view of rows ``[step*b, step*b + length)`` of a 2-D array."""
    rows, cols = x.strides
    return as_strided(x, shape=(count, length, x.shape[1]), strides=(step * rows, rows, cols), writeable=False)


def _cast(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``x`` as ``dtype``; float16 through OpenCV's vectorised conversion (NumPy's is scalar here,
    ~10x slower; ``cv2.add`` of 0 converts at memory speed, ``cv2.multiply`` takes a slow path)."""
    if dtype != np.float16:
        return x
    x = np.ascontiguousarray(x)
    half = np.empty(x.shape, np.float16)
    cv2.add(x.reshape(-1, x.shape[-1]), 0.0, dst=half.reshape(-1, x.shape[-1]), dtype=cv2.CV_16F)
    return half


def image_to_dct(
    image: np.ndarray,
    channels: ChannelSpec = "24",
    upsample: int = 1,
    dtype=np.float32,
    input_format: str = "RGB",
) -> np.ndarray:
    """Block-DCT coefficients of an ``(H, W, 3)`` image, shape ``(C, ceil(H*s/8), ceil(W*s/8))``.

    ``channels`` is any spec :func:`parse_channels` accepts; rows come out in its order.
    ``upsample`` (1 or 2): the coefficients of the image enlarged s times by
    ``cv2.resize(INTER_LINEAR)`` (the paper's detection input), computed without enlarging it.
    Equal to :func:`freqdet.core.reference.image_to_dct_reference` up to float32 rounding.
    """
    _check_image(image)
    _check_upsample(upsample)
    plan = _plan(tuple(parse_channels(channels)), upsample, input_format)
    step, window, span = plan.step, plan.window, plan.span
    h, w = image.shape[:2]
    nh, nw = -(-h // step), -(-w // step)
    height, width = step * nh + window - step, step * (nw + span - 1)
    padded = cv2.copyMakeBorder(
        image, plan.lead, height - plan.lead - h, plan.lead, width - plan.lead - w, cv2.BORDER_REPLICATE
    )
    planes = cv2.split(padded)
    out = np.empty((plan.num_channels, nh, nw), dtype=dtype)
    with _BLAS.limit(limits=1, user_api="blas"):
        _transform_strips(planes, plan, out)
    return out


def _transform_strips(planes: list, plan: _Plan, out: np.ndarray) -> None:
    """Fill ``out`` (C, nh, nw) from the padded colour ``planes``, a strip of block rows at a time."""
    step, window, span = plan.step, plan.window, plan.span
    _, nh, nw = out.shape
    width = planes[0].shape[1]
    strip = max(1, _STRIP_SAMPLES // width // step)
    for b0 in range(0, nh, strip):
        k = min(strip, nh - b0)
        rows = slice(step * b0, step * (b0 + k) + window - step)
        # (rows*3, width): one row per (image row, colour), centred, so the vertical taps mix colours too.
        x = np.stack([p[rows] for p in planes], axis=1, dtype=np.float32).reshape(-1, width)
        x -= LEVEL_SHIFT
        windows = _row_windows(x, k, window * 3, step * 3)
        for g in plan.groups:
            cols = np.matmul(g.vertical, windows)  # (k, pairs, width)
            # One product for every chunk of `step` columns and every tap share; the result has
            # rows (chunk j, v) so that adding the shares and picking channels move whole rows.
            parts = (g.horizontal @ cols.reshape(-1, step).T).reshape(span, -1, k, len(g.vertical), nw + span - 1)
            coeffs = parts[0, ..., :nw]
            for j in range(1, span):
                coeffs = coeffs + parts[j, ..., j:j + nw]
            out[g.rows, b0:b0 + k] = _cast(coeffs[g.v_index, :, g.pair_index], out.dtype)
