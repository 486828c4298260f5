"""Config mistakes fail at mapper/model build with an error naming the key and what was expected, and
tools/train_net.py's main() finds them before it reads any image or writes any statistics."""
import json

import numpy as np
import pytest
from detectron2.data import DatasetCatalog
from detectron2.engine import default_argument_parser
from detectron2.modeling import build_model

from freqdet.detection.mapper import DCTDatasetMapper
from freqdet.core.stats import load_dct_stats, save_dct_stats
from freqdet.detection.trainer import main
from test_detection_model import make_cfg


@pytest.mark.parametrize("channels, message", [
    (["25"], r"INPUT.DCT.CHANNELS: unknown channel subset '25'; known names: 6, 6T, 24"),
    (["24X"], r"INPUT.DCT.CHANNELS: unknown channel subset '24X'"),
    ([0, 1, 192], r"INPUT.DCT.CHANNELS: channel spec \[0, 1, 192\]: index 192 is outside 0..191"),
    ([0, -1], r"INPUT.DCT.CHANNELS: .*index -1 is outside 0..191"),
    ([0, 1, 0], r"INPUT.DCT.CHANNELS: channel spec \[0, 1, 0\]: index 0 appears twice"),
])
def test_bad_channels(channels, message):
    cfg = make_cfg("24", 2)
    cfg.INPUT.DCT.CHANNELS = channels
    with pytest.raises(ValueError, match=message):
        build_model(cfg)
    with pytest.raises(ValueError, match=message):
        DCTDatasetMapper(cfg, is_train=True)


@pytest.mark.parametrize("s", [0, 3, 4, True])  # True == 1 in Python, but is no factor
def test_upsample_outside_1_2(s):
    cfg = make_cfg("24", 2)
    cfg.INPUT.DCT.UPSAMPLE = s
    message = rf"INPUT.DCT.UPSAMPLE must be 1 or 2 .*got {s}"
    with pytest.raises(ValueError, match=message):
        build_model(cfg)
    with pytest.raises(ValueError, match=message):
        DCTDatasetMapper(cfg, is_train=False)


@pytest.mark.parametrize("key", ["PIXEL_MEAN", "PIXEL_STD"])
def test_mean_std_length(key):
    cfg = make_cfg("24", 2)
    cfg.MODEL[key] = [1.0] * 23
    with pytest.raises(ValueError, match=rf"MODEL.{key} has 23 values but INPUT.DCT.CHANNELS=\['24'\] selects 24"):
        build_model(cfg)


def test_gate_needs_192_channels():
    cfg = make_cfg("64", 2)
    cfg.MODEL.FREQ_GATE.ENABLED = True
    with pytest.raises(ValueError, match=r"MODEL.FREQ_GATE.ENABLED needs all 192 channels .*got \['64'\]"):
        build_model(cfg)


def test_dtype():
    cfg = make_cfg("24", 2)
    cfg.INPUT.DCT.DTYPE = "float64"
    with pytest.raises(ValueError, match=r"INPUT.DCT.DTYPE must be one of \['float16', 'float32'\], got 'float64'"):
        DCTDatasetMapper(cfg, is_train=True)


def _stats_cfg(path, channels="24", s=2):
    cfg = make_cfg(channels, s)
    cfg.MODEL.PIXEL_STATS_FILE = str(path)
    return cfg


def test_stats_file_missing(tmp_path):
    path = tmp_path / "nope.json"
    with pytest.raises(FileNotFoundError, match=rf"MODEL.PIXEL_STATS_FILE='{path}': the DCT statistics file does "
                                                r"not exist; create it with tools/compute_dct_stats.py"):
        build_model(_stats_cfg(path))


@pytest.mark.parametrize("content, message", [
    (b'{"mean": {"0": 1.0', r"is not valid JSON"),  # truncated write
    (b"\xff\xd8\xff\xe0 binary", r"is not valid JSON"),  # not text at all
    (b"", r"is not valid JSON"),
    (b"[1, 2, 3]", r"expected a JSON object with 'mean' and 'std', got list"),
    (b'{"format": "other-tool/2", "mean": {}, "std": {}}', r"format 'other-tool/2' is not 'freqdet-dct-stats/1'"),
    (b'{"mean": [1, 2], "std": [1, 2]}', r"no 'mean' mapping of channel index to value"),
])
def test_stats_file_corrupt(tmp_path, content, message):
    path = tmp_path / "stats.json"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=rf"MODEL.PIXEL_STATS_FILE='{path}': .*{message}"):
        build_model(_stats_cfg(path))


def test_stats_file_other_upsample(tmp_path):
    path = tmp_path / "stats.json"
    save_dct_stats(str(path), "192", np.zeros(192), np.ones(192), upsample=1, input_format="BGR")
    with pytest.raises(ValueError, match=r"measured at upsample s=1, but INPUT.DCT.UPSAMPLE is 2"):
        build_model(_stats_cfg(path, s=2))
    # s matches; the input format does not matter (YCbCr is the same from RGB and BGR reads)
    cfg = _stats_cfg(path, s=1)
    cfg.INPUT.FORMAT = "RGB"
    assert build_model(cfg).pixel_std.flatten().tolist() == [1.0] * 24
    assert load_dct_stats(str(path), "24", upsample=1) == ([0.0] * 24, [1.0] * 24)


def test_stats_file_lacks_channel(tmp_path):
    path = tmp_path / "stats.json"
    save_dct_stats(str(path), "6", np.zeros(6), np.ones(6), upsample=2)
    with pytest.raises(ValueError, match=r"lacks mean for channels \[2, 3, 10, 11, 16, 17, 18, 19\] \.\.\."):
        build_model(_stats_cfg(path, "24"))


@pytest.mark.parametrize("bad, message", [
    ("NaN", r"std is not finite for channels \[1\]"),
    (0.0, r"non-positive std for selected channels \[1\]"),
    ("x", r"std holds a value that is not a number"),
])
def test_stats_file_bad_values(tmp_path, bad, message):
    path = tmp_path / "stats.json"
    data = save_dct_stats(str(path), "192", np.zeros(192), np.ones(192), upsample=2)
    data["std"]["1"] = float(bad) if bad == "NaN" else bad
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=message):
        build_model(_stats_cfg(path))


def test_stats_file_written_atomically(tmp_path):
    path = tmp_path / "sub" / "stats.json"
    save_dct_stats(str(path), "6", np.zeros(6), np.ones(6), upsample=2)
    assert [p.name for p in path.parent.iterdir()] == ["stats.json"]  # no temporary left behind
    assert json.loads(path.read_text())["format"] == "freqdet-dct-stats/1"


def test_lazyconfig_statistics_are_checked(tmp_path):
    """LazyConfigs read the same file through pixel_stat_from_file: same checks, the LazyConfig field named."""
    from freqdet.model_zoo.lazy import pixel_stat_from_file

    path = tmp_path / "stats.json"
    save_dct_stats(str(path), "192", np.zeros(192), np.ones(192), upsample=1)
    assert pixel_stat_from_file(str(path), "24", "std", upsample=1) == [1.0] * 24
    with pytest.raises(ValueError, match=rf"model.pixel_mean.path='{path}': statistics were measured at upsample s=1"):
        pixel_stat_from_file(str(path), "24", "mean", upsample=2)
    with pytest.raises(FileNotFoundError, match=r"model.pixel_std.path='.*nope.json': the DCT statistics file does not"):
        pixel_stat_from_file(str(tmp_path / "nope.json"), "24", "std", upsample=2)


@pytest.mark.parametrize("opts, message", [
    # the case: s=1 on an s=2 config used to write s=1 statistics into the s=2 file first
    (["INPUT.DCT.UPSAMPLE", "1"], r"MODEL.RPN.IN_FEATURES names \['p2'\], but with INPUT.DCT.UPSAMPLE=1 the FPN "
                                  r"levels are \['p3', 'p4', 'p5', 'p6', 'p7'\] .* MODEL.RPN.IN_FEATURES "
                                  r"\['p3', 'p4', 'p5', 'p6', 'p7'\] and MODEL.ROI_HEADS.IN_FEATURES "
                                  r"\['p3', 'p4', 'p5', 'p6'\]"),
    (["INPUT.DCT.CHANNELS", '["25"]'], r"INPUT.DCT.CHANNELS: unknown channel subset '25'"),
    (["MODEL.FREQ_GATE.ENABLED", "True"], r"MODEL.FREQ_GATE.ENABLED needs all 192 channels"),
    (["MODEL.FREQ_GATE.INFERENCE", "argmax"], r"MODEL.FREQ_GATE.INFERENCE = 'argmax': choose one of"),
    (["INPUT.FORMAT", "L"], r"INPUT.FORMAT must be RGB or BGR for the DCT input, got 'L'"),
    (["MODEL.PIXEL_STATS_FILE", "{tmp}"], r"MODEL.PIXEL_STATS_FILE='.*' is a directory; the key names the statistics"),
])
def test_train_net_checks_the_config_before_reading_any_image(tmp_path, opts, message):
    """main() stops on a config mistake before it loads the training dataset (which could mean a
    5000-image statistics pass), and leaves no statistics file behind."""
    calls = []
    name = "config_errors_recorded"
    if name in DatasetCatalog.list():
        DatasetCatalog.remove(name)
    DatasetCatalog.register(name, lambda: calls.append(name) or [
        {"file_name": str(tmp_path / "0.jpg"), "image_id": 0, "height": 64, "width": 64, "annotations": []}])
    stats = tmp_path / "datasets" / "dct_stats_s2.json"
    cfg = make_cfg("24", 2)
    cfg.merge_from_list(["DATASETS.TRAIN", (name,), "DATASETS.TEST", (), "MODEL.PIXEL_STATS_FILE", str(stats),
                         "OUTPUT_DIR", str(tmp_path / "out")])
    config = tmp_path / "config.yaml"
    config.write_text(cfg.dump())
    args = default_argument_parser().parse_args(["--config-file", str(config),
                                                 *[o.replace("{tmp}", str(tmp_path)) for o in opts]])
    with pytest.raises(ValueError, match=message):
        main(args)
    assert calls == [] and not stats.exists() and not stats.parent.exists()
