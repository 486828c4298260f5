"""Selection-rate files, the heat map drawn from them and the static subsets picked from them
(the package functions behind tools/channel_heatmap.py and tools/select_channels.py), and each
tool once end to end."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from freqdet.core import parse_channels
from freqdet.core.plots import plot_selection_rates
from freqdet.core.selection import (
    describe_subset,
    load_selection_rates,
    save_selection_rates,
    select_from_rates,
    static_subset_yaml,
)
from freqdet.core.stats import load_dct_stats, save_dct_stats

ROOT = Path(__file__).resolve().parents[1]


def run_tool(name, *args):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / f"{name}.py"), *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture
def rates():
    """Low frequencies of Y mostly on, a few chroma DC channels on, the rest rarely."""
    r = np.full(192, 0.02)
    r[[0, 1, 8, 9, 2, 16]] = [1.0, 0.97, 0.96, 0.9, 0.6, 0.55]
    r[64], r[128], r[65] = 0.99, 0.98, 0.3
    return r


@pytest.fixture
def stats(tmp_path):
    """A statistics file with distinct values per channel, so a misaligned mean/std shows."""
    rng = np.random.default_rng(0)
    path = tmp_path / "stats.json"
    save_dct_stats(str(path), "192", rng.normal(size=192) * 10, rng.uniform(1, 100, size=192))
    return path


def test_rates_json_roundtrip(tmp_path, rates):
    path = save_selection_rates(tmp_path / "r.json", rates, 50, dataset="x")
    data = json.loads(path.read_text())
    assert data["num_images"] == 50 and data["mean_channels_on"] == pytest.approx(rates.sum())
    assert data["channels_on_per_component"]["Cb"] == pytest.approx(0.99 + 0.3 + 62 * 0.02)
    assert data["names"]["65"] == "Cb(0,1)"
    assert np.allclose(load_selection_rates(path), rates)


def test_heat_map_shows_each_rate_on_a_fixed_scale(tmp_path, rates, channel_grid_cells, expected_cell_colours):
    """Every cell has the colour of its channel's rate on magma 0..1: a gate that keeps everything is
    all top colour (an automatic scale would make it one flat colour of the bottom)."""
    for values in (rates, np.ones(192)):
        cells = channel_grid_cells(plot_selection_rates(values, tmp_path / "rates.png"))
        expected = expected_cell_colours("magma", values, 0.0, 1.0).reshape(3, 8, 8, 3)
        assert np.abs(cells - expected).max() < 3 / 255
    assert cells.min() > 0.7  # magma(1.0) is pale yellow


def test_select_rules(rates):
    assert select_from_rates(rates, top_k=5) == [0, 1, 8, 64, 128]
    assert select_from_rates(rates, per_component=(4, 1, 1)) == [0, 1, 8, 9, 64, 128]
    assert select_from_rates(rates, threshold=0.5) == [0, 1, 2, 8, 9, 16, 64, 128]
    # Ties (all 0.02) go to the lowest frequencies in zigzag order: Cr gets (0,0),(0,1),(1,0).
    assert select_from_rates(rates, per_component=(0, 0, 3)) == [128, 129, 136]
    with pytest.raises(ValueError):
        select_from_rates(rates, top_k=3, threshold=0.5)
    with pytest.raises(ValueError):
        select_from_rates(rates, threshold=1.5)
    with pytest.raises(ValueError):
        select_from_rates(rates, per_component=(65, 0, 0))


def test_static_subset_yaml_lines_up_channels_and_statistics(rates, stats):
    channels = select_from_rates(rates, per_component=(16, 4, 4))
    mean, std = load_dct_stats(str(stats), channels)
    text = static_subset_yaml(channels, mean, std, "base.yaml", describe_subset(channels, rates))
    assert text.startswith("# 24 channels, Y 16, Cb 4, Cr 4\n# lowest kept rate 0.020 (Y(0,3))\n")
    cfg = yaml.safe_load(text)
    chans = parse_channels(cfg["INPUT"]["DCT"]["CHANNELS"])  # a valid subset
    assert chans == sorted(chans) == channels
    assert [sum(c // 64 == k for c in chans) for k in range(3)] == [16, 4, 4]
    all_mean, all_std = load_dct_stats(str(stats), list(range(192)))
    assert np.allclose(cfg["MODEL"]["PIXEL_MEAN"], np.asarray(all_mean)[chans], rtol=1e-5)
    assert np.allclose(cfg["MODEL"]["PIXEL_STD"], np.asarray(all_std)[chans], rtol=1e-5)
    assert cfg["MODEL"]["PIXEL_STATS_FILE"] == "" and cfg["MODEL"]["FREQ_GATE"]["ENABLED"] is False
    assert cfg["_BASE_"] == "base.yaml"
    # Without statistics the config keeps its base's: no mean/std lines, the stats file untouched.
    bare = yaml.safe_load(static_subset_yaml([0, 64], base_config=None))
    assert bare == {"MODEL": {"FREQ_GATE": {"ENABLED": False}}, "INPUT": {"DCT": {"CHANNELS": [0, 64]}}}


def test_channel_heatmap_tool_writes_beside_the_json(tmp_path, rates, channel_grid_cells, expected_cell_colours):
    src = save_selection_rates(tmp_path / "on.json", rates, 10)
    assert run_tool("channel_heatmap", src).strip() == str(tmp_path / "on.png")
    expected = expected_cell_colours("magma", rates, 0.0, 1.0).reshape(3, 8, 8, 3)
    assert np.abs(channel_grid_cells(tmp_path / "on.png") - expected).max() < 3 / 255


def test_select_channels_tool_prints_and_writes_the_config(tmp_path, rates, stats):
    src = save_selection_rates(tmp_path / "r.json", rates, 10)
    out = tmp_path / "configs" / "static.yaml"
    printed = run_tool("select_channels", src, "--threshold", "0.5", "--stats", stats, "--base-config", "base.yaml",
                       "-o", out)
    assert out.read_text() == printed
    assert printed.startswith(f"# Static subset from {src} (rate >= 0.5): 8 channels")
    cfg = yaml.safe_load(printed)
    assert cfg["INPUT"]["DCT"]["CHANNELS"] == [0, 1, 2, 8, 9, 16, 64, 128] and len(cfg["MODEL"]["PIXEL_MEAN"]) == 8
