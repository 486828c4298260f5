"""benchmarks/stem_cost.py: each DCT stem hands on the RGB stem's output shape, the counts follow the layers,
and docs/design.md shows the table of docs/stem_cost.json."""
import json
import os
import runpy

import pytest

from freqdet.core.stems import STEMS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def bench():
    return runpy.run_path(os.path.join(REPO, "benchmarks", "stem_cost.py"))


def _groups(rows):
    """model/image -> {stem: row}; each RGB row is the reference of the DCT rows of its model."""
    groups = {}
    for r in rows:
        groups.setdefault((r["model"], r["input"]), {})[r["stem"]] = r
    return groups


def test_stems_hand_on_the_rgb_stems_output(bench):
    """Tiny images (64 px detector, 32 px classifiers), stems only: cheap, and the same code as the docs' run."""
    rows = bench["detector_rows"](64, network=False) + bench["classifier_rows"](32, network=False)
    groups = _groups(rows)
    rgb = {m: r for (m, image), g in groups.items() for s, r in g.items() if s.startswith("RGB")}
    assert set(rgb) == {"Detector R50", "ResNet-50", "MobileNetV2"}
    dct = {k: g for k, g in groups.items() if not k[1].startswith("RGB")}
    assert len(dct) == 3 + 1 + 2 and all(set(g) == set(STEMS) for g in dct.values())
    for (model, image), g in dct.items():
        width = rgb[model]["stem_output"][0]
        assert g["none"]["stem_flops"] == 0 and g["none"]["stem_output"] == g["none"]["stem_input"]
        for name in ("conv", "conv2", "luma_chroma"):
            c, h, w = g[name]["stem_input"]
            assert g[name]["stem_output"] == [width, h, w], (model, image, name)
    # DCT-24 s=2 on 64 px is a 16x16 grid and gives res2 what the RGB stem gives it.
    s2 = groups[("Detector R50", "DCT-24 s=2, 64×64")]
    assert s2["conv"]["stem_output"] == rgb["Detector R50"]["stem_output"] == [64, 16, 16]
    # fvcore's counts: a 3x3 conv 24 -> 64 (FrozenBN: no parameters) is 24*64*9 multiply-adds per position.
    assert s2["conv"]["stem_params"] == 24 * 64 * 9
    assert s2["conv"]["stem_flops"] == 24 * 64 * 9 * 16 * 16 + 2 * 64 * 16 * 16  # + the affine norm
    assert "| Detector R50 | conv | DCT-24 s=2, 64×64 |" in bench["markdown"](rows)


def test_docs_show_the_measured_table(bench):
    with open(os.path.join(REPO, "docs", "stem_cost.json"), encoding="utf-8") as f:
        measured = json.load(f)
    assert "1 multiply-add = 1 flop" in measured["convention"]
    assert (measured["det_size"], measured["cls_size"]) == (800, 224)
    groups = _groups(measured["rows"])
    assert ("Detector R50", "DCT-24 s=1, 800×800") in groups and ("ResNet-50", "DCT-24 448×448") in groups
    assert all("network_flops" in r for r in measured["rows"])
    with open(os.path.join(REPO, "docs", "design.md"), encoding="utf-8") as f:
        design = f.read()
    assert bench["markdown"](measured["rows"]) in design
