"""Spectral sensitivity (what tools/spectral_sensitivity.py runs) on a DCT-192 Mask R-CNN trained 2 iterations on tiny generated data, and on a
DCT-24 classifier trained 2 iterations on a tiny JPEG ImageFolder."""
import json

import numpy as np
import pytest
import torch
from detectron2.data import build_detection_test_loader
from detectron2.evaluation import COCOEvaluator, inference_on_dataset
from detectron2.modeling import build_model

from classification_utils import TINY as TINY_CLASSIFIER
from classification_utils import tiny_cfg, train as train_classifier, write_tiny_imagefolder
from freqdet.classification.config import load_classification_config
from freqdet.classification.trainer import ClassificationTrainer
from freqdet.detection.config import load_config
from freqdet.detection.mapper import DCTDatasetMapper
from freqdet.engine.checkpoint import SafeCheckpointer
from freqdet.core import named_subsets
from freqdet.core.selection import save_selection_rates
from freqdet.analysis.sensitivity import (
    compare_rankings, frequency_units, ranking_vs_subset, write_sensitivity_report, zero_channels,
)
from freqdet.classification.sensitivity import classifier_target
from freqdet.detection.sensitivity import detector_target
from test_train_net import DEMO_CONFIG, TINY, tiny, train  # noqa: F401  (tiny: the fixture)

DCT192 = ["INPUT.DCT.CHANNELS", '["192"]', "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0"]


def assert_grids_drawn(png):
    """The heat map decodes at plot_channel_grids' size (13 x 4.6 in at 110 dpi) with its axes and labels drawn."""
    from PIL import Image

    img = np.asarray(Image.open(png).convert("RGB"))
    assert img.shape == (506, 1430, 3)
    assert (img.min(axis=2) < 100).mean() > 0.01  # dark ink: axes, ticks, channel numbers, title


def test_units_partition_the_model_channels():
    for spec, counts in (("192", {"channel": 192, "band": 48, "component": 3}),
                         ("24", {"channel": 24, "band": 4 + 1 + 1, "component": 3})):
        channels = named_subsets()[spec]
        for unit, n in counts.items():
            units = frequency_units(channels, unit)
            assert len(units) == n, (spec, unit)
            assert sorted(c for u in units for c in u["channels"]) == sorted(channels)
    assert frequency_units(range(192), "band")[0] == {"name": "Y u0-1 v0-1", "channels": [0, 1, 8, 9]}


def test_ranking_vs_square24_counts_the_costliest_channels():
    square = named_subsets()["24"]
    drops = {str(c): (1.0 if c in square[:20] else 0.0) for c in range(192)}
    drops["191"] = 2.0  # the costliest channel is outside the subset; ties (0) fill in channel order: 4, 5, 6
    r = ranking_vs_subset(drops)
    assert r["top_k"] == 24 and r["in_subset"] == 20 and r["top_channels"][0] == 191


def test_compare_rankings_on_bands_counts_square24_and_correlates_with_gate():
    bands = frequency_units(range(192), "band")
    inside = ["Y u0-1 v0-1", "Y u0-1 v2-3", "Y u2-3 v0-1", "Y u2-3 v2-3", "Cb u0-1 v0-1", "Cr u0-1 v0-1"]
    # Drops fall with the band's position except one high Cr band that costs most.
    units = [{**u, "drop": {"bbox/AP": 48.0 - i}} for i, u in enumerate(bands)]
    units[-1]["drop"]["bbox/AP"] = 100.0
    rates = np.zeros(192)
    for i, u in enumerate(bands):
        rates[u["channels"]] = 1.0 - i / 48  # the gate agrees with the drops' order (but not on the Cr band)
    r = compare_rankings(units, "bbox/AP", rates)
    assert r["units_in_subset"] == inside
    assert r["costliest_units"][0] == "Cr u6-7 v6-7" and len(r["costliest_units"]) == 6
    # The six costliest: Cr u6-7 v6-7 and Y's first five bands in row order (u0-1 v0-1 .. v6-7, u2-3 v0-1),
    # three of them in square-24; the gate's six add Y u2-3 v2-3: four.
    assert r["costliest_in_subset"] == 3
    assert r["gate_top_units"] == [u["name"] for u in bands[:6]] and r["gate_top_in_subset"] == 4
    assert 0.8 < r["spearman_drop_vs_gate_rate"] < 1.0
    constant = compare_rankings(units, "bbox/AP", np.ones(192))  # a gate that keeps everything ranks nothing
    assert constant["spearman_drop_vs_gate_rate"] is None and constant["gate_top_in_subset"] is None


def test_zero_channels_sets_normalized_input_to_zero():
    conv = torch.nn.Conv2d(4, 2, 1)
    x = torch.randn(1, 4, 3, 3)
    with zero_channels(conv, [1, 3]):
        got = conv(x)
    masked = x.clone()
    masked[:, [1, 3]] = 0
    assert torch.equal(got, conv(masked)) and not torch.equal(got, conv(x))


def test_detector_sensitivity_json_baseline_and_heatmap(tiny, tmp_path):
    train(tiny, tmp_path / "train", *DCT192)
    weights = tmp_path / "train" / "model_final.pth"
    opts = [*TINY, *DCT192, "MODEL.PIXEL_STATS_FILE", str(tiny["stats"]), "MODEL.WEIGHTS", str(weights),
            "DATASETS.TEST", '("tiny_val",)', "OUTPUT_DIR", str(tmp_path)]
    out = tmp_path / "sens.json"
    rates = np.r_[np.full(64, 0.9), np.full(64, 0.5), np.full(64, 0.1)]
    save_selection_rates(tmp_path / "rates.json", rates, 2)
    data = write_sensitivity_report(detector_target(load_config(DEMO_CONFIG, opts)), "component", out,
                                    gate_rates_file=str(tmp_path / "rates.json"), progress=False)

    saved = json.loads(out.read_text())
    assert [u["name"] for u in saved["units"]] == ["Y", "Cb", "Cr"] and saved["num_images"] == 2
    assert sorted(map(int, saved["drops"])) == list(range(192))
    for u in saved["units"]:
        assert u["drop"]["bbox/AP"] == pytest.approx(saved["baseline"]["bbox/AP"] - u["metrics"]["bbox/AP"])
        assert all(saved["drops"][str(c)] == u["drop"]["bbox/AP"] for c in u["channels"])
    assert_grids_drawn(out.with_suffix(".png"))
    assert saved["ranking"]["gate_rate"] == {"Y": 0.9, "Cb": 0.5, "Cr": 0.1}
    assert saved["ranking"]["units_in_subset"] == []  # no component lies wholly inside square-24

    # The baseline is a plain evaluation of the same checkpoint.
    cfg = load_config(DEMO_CONFIG, opts)
    model = build_model(cfg).eval()
    SafeCheckpointer(model).load(str(weights))
    loader = build_detection_test_loader(cfg, "tiny_val", mapper=DCTDatasetMapper(cfg, is_train=False))
    plain = inference_on_dataset(model, loader, COCOEvaluator("tiny_val", output_dir=str(tmp_path / "plain")))
    assert data["baseline"] == {f"{t}/{k}": pytest.approx(plain[t][k], nan_ok=True)
                                for t in plain for k in ("AP", "AP50", "AP75", "APs", "APm", "APl")}


def test_classifier_sensitivity_json_matches_a_plain_evaluation(tmp_path, photos):
    data = write_tiny_imagefolder(tmp_path / "imagefolder", photos)
    arch = ["MODEL.ARCH", "mobilenet_v2_dct", "INPUT.DCT.CHANNELS", '["24"]']
    train_classifier(tiny_cfg(data, tmp_path / "cls", *arch))
    weights = str(tmp_path / "cls" / "model_final.pth")
    stats = str(tmp_path / "cls" / "dct_stats.json")
    cli = [str(v) for v in ("DATASETS.ROOT", data, "OUTPUT_DIR", tmp_path / "sens", *TINY_CLASSIFIER, *arch,
                            "MODEL.WEIGHTS", weights, "MODEL.PIXEL_STATS_FILE", stats)]
    target = classifier_target(load_classification_config(None, cli))
    data_out = write_sensitivity_report(target, "component", tmp_path / "sens" / "spectral_sensitivity_component.json")

    saved = json.loads((tmp_path / "sens" / "spectral_sensitivity_component.json").read_text())
    assert saved["task"] == "classifier" and saved["metric"] == "top1" and saved["num_images"] == 6
    assert saved["channels"] == named_subsets()["24"]
    assert [u["name"] for u in saved["units"]] == ["Y", "Cb", "Cr"]
    for u in saved["units"]:
        assert u["drop"]["top1"] == pytest.approx(saved["baseline"]["top1"] - u["metrics"]["top1"])
        assert all(saved["drops"][str(c)] == u["drop"]["top1"] for c in u["channels"])
    assert_grids_drawn(tmp_path / "sens" / "spectral_sensitivity_component.png")
    # The baseline is a plain evaluation of the same checkpoint.
    trainer = ClassificationTrainer(tiny_cfg(data, tmp_path / "plain", *arch, "MODEL.PIXEL_STATS_FILE", stats))
    trainer.load_for_eval(weights)
    plain = trainer.test()
    assert data_out["baseline"] == {"top1": plain["top1"], "top5": plain["top5"]}
