"""tools/channel_heatmap.py and tools/select_channels.py on selection-rate JSON files."""
import json
import runpy
from pathlib import Path

import numpy as np
import pytest
import yaml

from freqdet.core.stats import save_dct_stats
from freqdet.core import parse_channels
from freqdet.core.selection import load_selection_rates, save_selection_rates, select_from_rates

ROOT = Path(__file__).resolve().parents[1]


def tool(name):
    return runpy.run_path(str(ROOT / "tools" / f"{name}.py"), run_name=f"tools_{name}")


@pytest.fixture
def rates():
    """Low frequencies of Y mostly on, a few chroma DC channels on, the rest rarely."""
    r = np.full(192, 0.02)
    r[[0, 1, 8, 9, 2, 16]] = [1.0, 0.97, 0.96, 0.9, 0.6, 0.55]
    r[64], r[128], r[65] = 0.99, 0.98, 0.3
    return r


def bright_fraction(png):
    import matplotlib.image

    img = matplotlib.image.imread(png)[..., :3]
    # magma(1.0) is pale yellow: red and green high, blue lower.
    return ((img[..., 0] > 0.9) & (img[..., 1] > 0.85) & (img[..., 2] < 0.8)).mean()


def test_rates_json_roundtrip(tmp_path, rates):
    path = save_selection_rates(tmp_path / "r.json", rates, 50, dataset="x")
    data = json.loads(path.read_text())
    assert data["num_images"] == 50 and data["mean_channels_on"] == pytest.approx(rates.sum())
    assert data["channels_on_per_component"]["Cb"] == pytest.approx(0.99 + 0.3 + 62 * 0.02)
    assert data["names"]["65"] == "Cb(0,1)"
    assert np.allclose(load_selection_rates(path), rates)


def test_heatmap_png(tmp_path, rates):
    main = tool("channel_heatmap")["main"]
    on = save_selection_rates(tmp_path / "on.json", rates, 10)
    out = main([str(on)])
    assert out == tmp_path / "on.png" and out.stat().st_size > 10_000
    # The colour scale is fixed to 0..1: more channels near 1 give more cells of the top colour.
    all_on = save_selection_rates(tmp_path / "all_on.json", np.ones(192), 10)
    out_all = main([str(all_on), "-o", str(tmp_path / "custom.png"), "--title", "all on"])
    assert out_all == tmp_path / "custom.png"
    assert bright_fraction(out_all) > bright_fraction(out) + 0.2


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


@pytest.mark.parametrize("rule,expected", [
    (["--top-k", "6"], [0, 1, 8, 9, 64, 128]),
    (["--per-component", "16,4,4"], None),
    (["--threshold", "0.5"], [0, 1, 2, 8, 9, 16, 64, 128]),
])
def test_select_channels_tool(tmp_path, rates, rule, expected):
    rates_json = save_selection_rates(tmp_path / "r.json", rates, 10)
    rng = np.random.default_rng(0)
    mean, std = rng.normal(size=192) * 10, rng.uniform(1, 100, size=192)
    stats = tmp_path / "stats.json"
    save_dct_stats(str(stats), "192", mean, std)
    out = tmp_path / "static.yaml"
    channels, text = tool("select_channels")["main"]([str(rates_json), *rule, "--stats", str(stats),
                                                       "--base-config", "base.yaml", "-o", str(out)])
    assert out.read_text() == text
    cfg = yaml.safe_load(text)
    chans = parse_channels(cfg["INPUT"]["DCT"]["CHANNELS"])  # a valid subset
    assert chans == sorted(chans) == channels
    if expected is not None:
        assert chans == expected
    else:
        assert [sum(c // 64 == k for c in chans) for k in range(3)] == [16, 4, 4]
    # mean/std line up with the channels and match the statistics file
    assert np.allclose(cfg["MODEL"]["PIXEL_MEAN"], mean[chans], rtol=1e-5)
    assert np.allclose(cfg["MODEL"]["PIXEL_STD"], std[chans], rtol=1e-5)
    assert cfg["MODEL"]["PIXEL_STATS_FILE"] == "" and cfg["MODEL"]["FREQ_GATE"]["ENABLED"] is False
    assert cfg["_BASE_"] == "base.yaml"
