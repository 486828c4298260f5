"""Plots of per-channel quantities as three 8x8 grids (Y, Cb, Cr), as in the paper's Fig. 5."""
from __future__ import annotations

from pathlib import Path
from typing import Union

import numpy as np

from .channels import COMPONENTS, Values, as_channel_array


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
    """Write a PNG of Y, Cb and Cr grids; each cell shows its channel index, coloured by value."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = as_channel_array(values).reshape(3, 8, 8)
    finite = grid[np.isfinite(grid)]
    vmin = float(finite.min()) if vmin is None and finite.size else vmin
    vmax = float(finite.max()) if vmax is None and finite.size else vmax
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.6), constrained_layout=True)
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
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_selection_rates(rates: Values, path: Union[str, Path], title: str = "") -> Path:
    """Heat map of a gate's per-channel selection rates on a fixed 0..1 scale (paper's Fig. 5)."""
    return plot_channel_grids(rates, path, title=title, colorbar_label="selection rate",
                              vmin=0.0, vmax=1.0, cmap="magma")
