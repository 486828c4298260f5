"""Shared fixtures: real photos shipped by PyPI packages (no downloads), and reading plots back."""
import numpy as np
import pytest


@pytest.fixture(scope="session")
def china():
    """scikit-learn's china.jpg, (427, 640, 3) RGB uint8."""
    from sklearn.datasets import load_sample_image

    return load_sample_image("china.jpg")


@pytest.fixture(scope="session")
def photos(china):
    """Real RGB photos of several sizes (none a multiple of 8 on both sides)."""
    from skimage import data

    return {"china": china, "astronaut": data.astronaut(), "coffee": data.coffee(), "chelsea": data.chelsea()}


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _runs(flags):
    """``[(start, stop)]`` of the runs of True in a 1-D bool array."""
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def read_channel_grid_cells(path):
    """The colour of every cell of a :func:`freqdet.core.plots.plot_channel_grids` PNG: (3, 8, 8, 3) RGB
    in 0..1, indexed [component, u, v] like the channels.

    Asserts on the way what a picture must be to be read at all: it decodes, it is FIGSIZE x DPI
    pixels, and it shows three square panels side by side (the wide runs of columns that are mostly
    not white; the colour bar is narrow). Each cell is sampled in its upper-left part, clear of the
    spines and of the channel index written at its centre. Cells whose value is NaN are blank (white)
    and may break the panel search: plot finite values.
    """
    from PIL import Image

    from freqdet.core.plots import DPI, FIGSIZE

    with Image.open(path) as f:
        image = np.asarray(f.convert("RGB"), dtype=np.float64) / 255
    assert image.shape == (round(FIGSIZE[1] * DPI), round(FIGSIZE[0] * DPI), 3), image.shape
    inked = (image < 0.98).any(axis=2)  # the background is pure white; every colour map cell is darker
    panels = [(x0, x1) for x0, x1 in _runs(inked.mean(axis=0) > 0.5) if x1 - x0 > image.shape[1] // 8]
    assert len(panels) == 3, panels
    cells = np.empty((3, 8, 8, 3))
    for c, (x0, x1) in enumerate(panels):
        rows = [r for r in _runs(inked[:, x0:x1].mean(axis=1) > 0.5) if r[1] - r[0] > image.shape[0] // 4]
        assert len(rows) == 1, rows
        y0, y1 = rows[0]
        assert abs((x1 - x0) - (y1 - y0)) <= 3, ((x0, x1), (y0, y1))  # an 8x8 grid of square cells
        side = (x1 - x0) / 8
        for u in range(8):
            for v in range(8):
                y, x = int(y0 + (u + 0.15) * side), int(x0 + (v + 0.15) * side)
                cells[c, u, v] = np.median(image[y:y + 4, x:x + 4].reshape(-1, 3), axis=0)
    return cells


@pytest.fixture
def channel_grid_cells():
    """:func:`read_channel_grid_cells`, for tests that check a heat map by what it shows."""
    return read_channel_grid_cells


def colormap_rgb(cmap, values, vmin, vmax):
    """The RGB (0..1) matplotlib gives ``values`` on ``cmap`` scaled to ``vmin..vmax``."""
    import matplotlib

    norm = matplotlib.colors.Normalize(vmin, vmax)
    return matplotlib.colormaps[cmap](norm(np.asarray(values, dtype=np.float64)))[..., :3]


@pytest.fixture
def expected_cell_colours():
    """:func:`colormap_rgb`: what a cell of a heat map must show for its value."""
    return colormap_rgb
