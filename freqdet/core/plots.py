"""Plots of per-channel quantities as three 8x8 grids (Y, Cb, Cr), as in the paper's Fig. 5.

One layout for every per-channel number (gate selection rates, energy shares, accuracy drops), so
pictures of different runs and measures compare cell by cell. Matplotlib is imported inside the
functions (Agg backend): importing :mod:`freqdet.core` stays free of it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

import numpy as np

from .channels import COMPONENTS, Values, as_channel_array
from .selection import rates_summary

FIGSIZE = (13, 4.6)  # inches: three square grids and a colour bar side by side
DPI = 110  # the PNG is FIGSIZE * DPI pixels (1430 x 506)


def _label_color(image, value: float) -> str:
    """Black on light cells, white on dark ones, so every index stays readable on any colormap."""
    if not np.isfinite(value):
        return "gray"
    r, g, b, _ = image.cmap(image.norm(value))
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"


def plot_channel_grids(
    values: Values,
    path: Union[str, Path],
    title: str = "",
    colorbar_label: str = "",
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = "viridis",
) -> Path:
    """Write a PNG of Y, Cb and Cr grids; each cell shows its channel index, coloured by value.

    Row ``u``, column ``v`` of a component's grid is channel ``c*64 + u*8 + v``. The colour scale is
    ``vmin..vmax`` (default: the finite values' range); NaN cells (channels without a value) stay blank.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = as_channel_array(values).reshape(3, 8, 8)
    finite = grid[np.isfinite(grid)]
    vmin = float(finite.min()) if vmin is None and finite.size else vmin
    vmax = float(finite.max()) if vmax is None and finite.size else vmax
    fig, axes = plt.subplots(1, 3, figsize=FIGSIZE, constrained_layout=True)
    for c, ax in enumerate(axes):
        image = ax.imshow(np.ma.masked_invalid(grid[c]), cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_title(COMPONENTS[c])
        ax.set_xticks(range(8))
        ax.set_yticks(range(8))
        ax.set_xlabel("horizontal frequency v")
        ax.set_ylabel("vertical frequency u")
        for u in range(8):
            for v in range(8):
                ax.text(v, u, str(c * 64 + u * 8 + v), ha="center", va="center", fontsize=7,
                        color=_label_color(image, grid[c, u, v]))
    fig.colorbar(image, ax=axes, shrink=0.8, label=colorbar_label)
    if title:
        fig.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def plot_selection_rates(rates: Values, path: Union[str, Path], title: Optional[str] = None,
                         num_images: Optional[int] = None) -> Path:
    """Heat map of a gate's per-channel selection rates (paper's Fig. 5).

    The scale is fixed to 0..1, so heat maps of different runs read alike. ``title`` None: a
    summary (images measured, channels on per image overall and per component).
    """
    if title is None:
        summary = rates_summary(as_channel_array(rates))
        per = ", ".join(f"{c} {v:.1f}" for c, v in summary["channels_on_per_component"].items())
        n = f"{num_images} images, " if num_images is not None else ""
        title = f"gate selection rate ({n}{summary['mean_channels_on']:.1f} channels on: {per})"
    return plot_channel_grids(rates, path, title=title, colorbar_label="selection rate",
                              vmin=0.0, vmax=1.0, cmap="magma")
