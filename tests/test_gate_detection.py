"""The gate inside FreqRCNN, through tools/train_net.py, and the tools on its output."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from freqdet.detection.config import load_config
from freqdet.detection.trainer import main as train_net_main
from freqdet.synthetic import coco_writer, register

ROOT = Path(__file__).resolve().parents[1]
GATE_CONFIG = ROOT / "configs/Demo/mask_rcnn_dct192_gate_R_50_FPN_demo.yaml"


@pytest.fixture(scope="module")
def tiny_demo(tmp_path_factory):
    """4 train + 2 val demo images (96 px), registered under their own names."""
    root = tmp_path_factory.mktemp("demo")
    coco_writer.generate_demo_dataset(root, num_train=4, num_val=2, image_size=96, seed=0)
    register.register_demo_datasets(root, names=("gate_tiny_train", "gate_tiny_val"))
    return root


def run_train_net(tmp_path, extra, eval_only=False):
    from detectron2.engine import default_argument_parser

    argv = ["--config-file", str(GATE_CONFIG)] + (["--eval-only"] if eval_only else []) + [
        "DATASETS.TRAIN", "('gate_tiny_train',)", "DATASETS.TEST", "('gate_tiny_val',)",
        "MODEL.PIXEL_STATS_FILE", "", "MODEL.PIXEL_MEAN", str([0.0] * 192), "MODEL.PIXEL_STD", str([30.0] * 192),
        "SOLVER.IMS_PER_BATCH", "2", "SOLVER.MAX_ITER", "2", "SOLVER.WARMUP_ITERS", "1", "SOLVER.STEPS", "()",
        "MODEL.FREQ_GATE.LOG_PERIOD", "1", "DATALOADER.NUM_WORKERS", "0",
        "INPUT.MIN_SIZE_TRAIN", "(96,)", "INPUT.MAX_SIZE_TRAIN", "96",
        "INPUT.MIN_SIZE_TEST", "96", "INPUT.MAX_SIZE_TEST", "96",
        "OUTPUT_DIR", str(tmp_path), *extra,
    ]
    args = default_argument_parser().parse_args(argv)
    return train_net_main(args)  # what tools/train_net.py launches


@pytest.fixture(scope="module")
def trained(tiny_demo, tmp_path_factory):
    """Two Mask R-CNN iterations with the gate on, through train_net.py."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = tmp_path_factory.mktemp("gate_run")
        run_train_net(out, ["TEST.EVAL_PERIOD", "0"])
    finally:
        torch.set_num_threads(before)
    return out


def test_train_net_with_gate_logs_loss_and_writes_rates(trained, channel_grid_cells, expected_cell_colours):
    records = [json.loads(line) for line in (trained / "metrics.json").read_text().splitlines()]
    train = [r for r in records if "loss_gate" in r]
    assert [r["iteration"] for r in train] == [1]  # Detectron2's writer: every 20 iterations and the last
    r = train[0]
    assert r["loss_gate"] > 0
    assert 0 < r["gate/channels_on"] <= 192
    assert "gate/rate/191" in r and "gate/on_Cr" in r
    # At iteration 1 of 2: lambda warmed up for 1 of the demo config's 30 iterations, tau halfway
    # (geometrically) from 2.0 to 0.5.
    assert r["gate/lambda"] == pytest.approx(0.5 / 30) and r["gate/tau"] == pytest.approx(1.0)

    payload = json.loads((trained / "gate_selection_rates.json").read_text())
    assert payload["num_images"] == 2 and payload["dataset"] == "gate_tiny_val" and payload["iteration"] == 2
    assert payload["inference"] == "expected_count"  # rates of the mask the detector infers with
    rates = np.array([payload["rates"][str(i)] for i in range(192)])
    assert set(np.unique(rates)) <= {0.0, 0.5, 1.0}  # fractions of 2 images
    # The heat map shows these rates: each cell has the colour of its rate on the fixed 0..1 scale.
    cells = channel_grid_cells(trained / "gate_selection_rates.png")
    assert np.abs(cells - expected_cell_colours("magma", rates, 0, 1).reshape(3, 8, 8, 3)).max() < 3 / 255


def test_eval_only_writes_rates(trained, tmp_path):
    torch.set_num_threads(1)
    run_train_net(tmp_path, ["MODEL.WEIGHTS", str(trained / "model_final.pth")], eval_only=True)
    payload = json.loads((tmp_path / "gate_selection_rates.json").read_text())
    again = json.loads((trained / "gate_selection_rates.json").read_text())
    # Same weights, same val images, deterministic inference mask: the same rates.
    assert payload["rates"] == again["rates"]
    assert (tmp_path / "gate_selection_rates.png").is_file()


def test_gate_needs_all_channels():
    from detectron2.modeling import build_model

    cfg = load_config(str(GATE_CONFIG), ["INPUT.DCT.CHANNELS", ["24"], "MODEL.PIXEL_STATS_FILE", "",
                                         "MODEL.PIXEL_MEAN", [0.0] * 24, "MODEL.PIXEL_STD", [1.0] * 24])
    with pytest.raises(ValueError, match="192"):
        build_model(cfg)


def test_gate_ignores_batch_padding():
    """An image's mask must not depend on which (larger) images share its batch."""
    from detectron2.modeling import build_model

    torch.manual_seed(0)
    cfg = load_config(str(GATE_CONFIG), ["MODEL.PIXEL_STATS_FILE", "", "MODEL.PIXEL_MEAN", [5.0] * 192,
                                         "MODEL.PIXEL_STD", [30.0] * 192, "MODEL.FREQ_GATE.INIT_ON_LOGIT", 0.0])
    model = build_model(cfg).eval()
    torch.nn.init.normal_(model.gate.logits_conv.weight, std=1.0)
    small = {"image": torch.randn(192, 16, 16) * 30, "image_size": (64, 64)}
    big = {"image": torch.randn(192, 32, 40) * 30, "image_size": (128, 160)}
    with torch.no_grad():
        model.preprocess_image([small])
        alone = model.gate.last_mask[0].clone()
        images = model.preprocess_image([small, big])
    assert torch.equal(model.gate.last_mask[0], alone)
    assert 0 < alone.mean() < 1
    assert images.image_sizes == [(64, 64), (128, 160)]


def test_select_channels_config_builds_and_maps(trained, tiny_demo, tmp_path):
    """The static config written from the run's rates is accepted by the mapper and the model."""
    from detectron2.data import DatasetCatalog
    from detectron2.modeling import build_model

    from freqdet.detection.config import input_spec
    from freqdet.detection.mapper import DCTDatasetMapper
    from freqdet.core.stats import save_dct_stats

    rng = np.random.default_rng(0)
    stats = tmp_path / "stats.json"
    save_dct_stats(str(stats), "192", rng.normal(size=192), rng.uniform(1, 50, size=192))
    out = tmp_path / "static.yaml"
    subprocess.run([sys.executable, str(ROOT / "tools" / "select_channels.py"), str(trained / "gate_selection_rates.json"),
                    "--per-component", "6,3,3", "--stats", str(stats), "--base-config", str(GATE_CONFIG),
                    "-o", str(out)], check=True, capture_output=True)
    cfg = load_config(str(out))
    cfg.MODEL.FREQ_GATE.ENABLED = False  # the static model: no gate, 12 channels
    chans = input_spec(cfg).channels
    assert len(chans) == 12 and sum(c < 64 for c in chans) == 6
    assert cfg.MODEL.PIXEL_STATS_FILE == ""
    mapped = DCTDatasetMapper(cfg, is_train=True)(DatasetCatalog.get("gate_tiny_train")[0])
    assert mapped["image"].shape[0] == 12
    model = build_model(cfg)
    assert model.backbone.bottom_up.res2[0].conv1.weight.shape[1] == 12
    from detectron2.utils.events import EventStorage

    model.train()
    with EventStorage(0):
        losses = model([mapped])
    assert all(torch.isfinite(v) for v in losses.values())


def closed_gate_detector(rule=None):
    """The demo gate config's detector in eval mode, its gate closed as a sparsity loss leaves it: every
    channel's P(on) < 1/2 on every image (``on > off`` keeps none), still ranked by image content."""
    from detectron2.modeling import build_model

    torch.manual_seed(0)
    opts = ["MODEL.PIXEL_STATS_FILE", "", "MODEL.PIXEL_MEAN", [0.0] * 192, "MODEL.PIXEL_STD", [30.0] * 192,
            "MODEL.FREQ_GATE.INIT_ON_LOGIT", -1.5, "MODEL.ROI_HEADS.SCORE_THRESH_TEST", 0.0,
            "INPUT.MIN_SIZE_TEST", 96, "INPUT.MAX_SIZE_TEST", 96]
    cfg = load_config(str(GATE_CONFIG), opts + (["MODEL.FREQ_GATE.INFERENCE", rule] if rule else []))
    model = build_model(cfg).eval()
    torch.nn.init.normal_(model.gate.logits_conv.weight, std=0.15)
    return cfg, model


@pytest.mark.parametrize("rule", [None, "on_greater_off"])
def test_closed_gate_detector_sees_input_and_detects_under_the_default_rule(tiny_demo, rule):
    """The study's failure: with every P(on) < 1/2, ``on > off`` zeroes the whole input, so every image
    gets the same detections; the default rule (expected_count) keeps round(sum P(on)) channels."""
    from detectron2.data import DatasetCatalog

    from freqdet.core.gate import on_probability
    from freqdet.detection.mapper import DCTDatasetMapper

    torch.set_num_threads(1)
    cfg, model = closed_gate_detector(rule)
    assert model.gate.inference == (rule or "expected_count")  # the config's rule reaches the gate
    mapper = DCTDatasetMapper(cfg, is_train=False)
    inputs = [mapper(d) for d in DatasetCatalog.get("gate_tiny_val")]
    with torch.no_grad():
        images = model.preprocess_image(inputs)
        p = on_probability(model.gate.last_logits)
        mask = model.gate.last_mask
        outputs = [model([x])[0]["instances"] for x in inputs]
    assert p.max() < 0.5
    if rule == "on_greater_off":
        assert mask.sum() == 0 and images.tensor.abs().sum() == 0
        # no input: a detector that ignores its image (same boxes and scores up to the image size)
        assert torch.allclose(outputs[0].scores, outputs[1].scores)
        return
    assert mask.sum(dim=1).tolist() == torch.round(p.sum(dim=1)).tolist() and (mask.sum(dim=1) >= 1).all()
    assert images.tensor.abs().sum() > 0
    assert all(len(o) > 0 for o in outputs)
    n = min(len(outputs[0]), len(outputs[1]), 5)
    assert not torch.allclose(outputs[0].scores[:n], outputs[1].scores[:n])  # each image's own input


def test_inference_rule_key_is_checked_and_old_configs_get_the_default(tmp_path):
    from detectron2.modeling import build_model

    # The demo config (and any older YAML) has no INFERENCE: it gets expected_count.
    assert "INFERENCE" not in GATE_CONFIG.read_text()
    assert load_config(str(GATE_CONFIG)).MODEL.FREQ_GATE.INFERENCE == "expected_count"
    cfg = load_config(str(GATE_CONFIG), ["MODEL.PIXEL_STATS_FILE", "", "MODEL.PIXEL_MEAN", [0.0] * 192,
                                         "MODEL.PIXEL_STD", [30.0] * 192, "MODEL.FREQ_GATE.INFERENCE", "argmax"])
    with pytest.raises(ValueError, match=r"MODEL\.FREQ_GATE\.INFERENCE = 'argmax': choose one of 'expected_count', "
                                         r"'on_greater_off', 'sample'"):
        build_model(cfg)
