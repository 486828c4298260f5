"""The classification config: the paper's recipe as defaults, errors that name the key, a YAML file merged
under the command line, the gate keys shared with detection, and classification's imports."""
import ast
import os

import pytest
from detectron2.config import get_cfg

from freqdet.classification.config import classification_channels, get_classification_cfg, load_classification_config
from freqdet.core import parse_channels
from freqdet.detection.config import add_freqdet_config
from freqdet.engine.hooks import FrequencyGateHook

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_defaults_are_the_papers_imagenet_recipe():
    cfg = get_classification_cfg()
    assert cfg.MODEL.ARCH == "resnet50_dct" and classification_channels(cfg) == parse_channels("24")
    assert (cfg.SOLVER.IMS_PER_BATCH, cfg.SOLVER.EPOCHS, cfg.SOLVER.WARMUP_EPOCHS) == (256, 90.0, 5.0)
    assert (cfg.SOLVER.SCHEDULE, cfg.SOLVER.MOMENTUM, cfg.SOLVER.WEIGHT_DECAY) == ("cosine", 0.9, 1e-4)
    assert tuple(cfg.SOLVER.STEP_EPOCHS) == (30.0, 60.0, 80.0) and cfg.INPUT.CROP_SCALE_MIN == 0.08
    assert not cfg.MODEL.FREQ_GATE.ENABLED and cfg.MODEL.PIXEL_STATS_MAX_IMAGES == 10000
    # The gate reads all 192 channels whatever INPUT.DCT.CHANNELS says.
    cfg.merge_from_list(["MODEL.FREQ_GATE.ENABLED", True])
    assert classification_channels(cfg) == list(range(192))


def test_unknown_keys_and_bad_values_name_the_key(tmp_path):
    with pytest.raises((KeyError, AssertionError), match="SOLVER.EPOCH"):
        load_classification_config(None, ["SOLVER.EPOCH", "10.0"])  # EPOCHS misspelt
    with pytest.raises(ValueError, match="SOLVER.IMS_PER_BATCH"):
        load_classification_config(None, ["SOLVER.IMS_PER_BATCH", "many"])
    for opts, key in ((["MODEL.ARCH", "resnet18_dct"], "MODEL.ARCH"),
                      (["SOLVER.SCHEDULE", "linear"], "SOLVER.SCHEDULE"),
                      (["INPUT.DCT.CHANNELS", '["25"]'], "INPUT.DCT.CHANNELS"),
                      (["INPUT.DCT.CHANNELS", "[0, 0]"], "INPUT.DCT.CHANNELS"),
                      (["MODEL.FREQ_GATE.TAU_SCHEDULE", "linear"], "MODEL.FREQ_GATE.TAU_SCHEDULE"),
                      (["MODEL.FREQ_GATE.INFERENCE", "argmax"], "MODEL.FREQ_GATE.INFERENCE"),
                      (["MODEL.ARCH", "resnet50", "MODEL.FREQ_GATE.ENABLED", "True"], "MODEL.FREQ_GATE.ENABLED"),
                      (["INPUT.CROP_SCALE_MIN", "0.0"], "INPUT.CROP_SCALE_MIN"),
                      (["SOLVER.MAX_ITER", "-1"], "SOLVER.MAX_ITER")):
        with pytest.raises(ValueError, match=key.replace(".", r"\.")):
            load_classification_config(None, opts)
    bad_file = tmp_path / "bad.yaml"
    bad_file.write_text("VERSION: 2\nSOLVER:\n  NO_SUCH_KEY: 1\n")
    with pytest.raises(KeyError, match="SOLVER.NO_SUCH_KEY"):
        load_classification_config(str(bad_file))


def test_dct_stem_keys_default_to_the_papers_model_and_errors_name_them():
    stem = get_classification_cfg().MODEL.DCT_STEM
    assert (stem.NAME, stem.KERNEL) == ("none", 3)
    cfg = load_classification_config(None, ["MODEL.DCT_STEM.NAME", "luma_chroma", "MODEL.DCT_STEM.KERNEL", "5"])
    assert (cfg.MODEL.DCT_STEM.NAME, cfg.MODEL.DCT_STEM.KERNEL) == ("luma_chroma", 5)
    for opts, match in ((["MODEL.DCT_STEM.NAME", "conv3"], r"MODEL\.DCT_STEM\.NAME = 'conv3': choose one of none"),
                        (["MODEL.DCT_STEM.NAME", "conv", "MODEL.DCT_STEM.KERNEL", "2"], r"MODEL\.DCT_STEM\.KERNEL = 2"),
                        (["MODEL.ARCH", "resnet50", "MODEL.DCT_STEM.NAME", "conv"],
                         r"MODEL\.DCT_STEM\.NAME = 'conv': a learned DCT stem needs a DCT model"),
                        (["MODEL.DCT_STEM.NAME", "luma_chroma", "INPUT.DCT.CHANNELS", "[0, 1, 8, 9]"],
                         r"MODEL\.DCT_STEM\.NAME = 'luma_chroma' with INPUT\.DCT\.CHANNELS \[0, 1, 8, 9\]: "
                         "the luma_chroma stem needs luma and chroma")):
        with pytest.raises(ValueError, match=match):
            load_classification_config(None, opts)
    # The gate's 192 channels hold both components.
    load_classification_config(None, ["MODEL.DCT_STEM.NAME", "luma_chroma", "MODEL.FREQ_GATE.ENABLED", "True"])


def test_config_file_then_command_line(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("VERSION: 2\nMODEL:\n  ARCH: mobilenet_v2_dct\nSOLVER:\n  IMS_PER_BATCH: 64\n  BASE_LR: 0.05\n")
    child = tmp_path / "child.yaml"
    child.write_text("_BASE_: base.yaml\nINPUT:\n  DCT:\n    CHANNELS: ['64']\n")
    cfg = load_classification_config(str(child), ["SOLVER.BASE_LR", "0.025"])
    assert cfg.MODEL.ARCH == "mobilenet_v2_dct" and cfg.SOLVER.IMS_PER_BATCH == 64
    assert cfg.SOLVER.BASE_LR == 0.025  # the command line wins over the file
    assert classification_channels(cfg) == parse_channels("64")
    assert cfg.SOLVER.EPOCHS == 90.0  # untouched keys keep their defaults
    # What the trainer saves as OUTPUT_DIR/config.yaml loads back to the same config.
    saved = tmp_path / "config.yaml"
    saved.write_text(cfg.dump())
    assert load_classification_config(str(saved)) == cfg


def test_gate_keys_are_detections():
    """One definition (freqdet.engine.gate_config) behind both tasks' MODEL.FREQ_GATE."""
    det = get_cfg()
    add_freqdet_config(det)
    det_gate, cls_gate = det.MODEL.FREQ_GATE, get_classification_cfg().MODEL.FREQ_GATE
    assert set(cls_gate) == set(det_gate) == {
        "ENABLED", "LAMBDA", "LAMBDA_WARMUP_ITERS", "TAU", "TAU_MIN", "TAU_SCHEDULE", "NORM", "INIT_ON_LOGIT",
        "GRAD_SCALE", "INFERENCE", "LOG_PERIOD", "RATES_FILE", "HEATMAP"}
    # Same defaults, except the gradient multiplier: detection's gate needs 100 at its small learning
    # rate, the classifier's trains at the base learning rate (as it did before the keys were shared).
    assert {k: v for k, v in cls_gate.items() if k != "GRAD_SCALE"} == \
        {k: v for k, v in det_gate.items() if k != "GRAD_SCALE"}
    assert (det_gate.GRAD_SCALE, cls_gate.GRAD_SCALE) == (100.0, 1.0)

    # The hook is built from either node the same way.
    cls_gate.merge_from_list(["LAMBDA", 0.3, "TAU_SCHEDULE", "constant", "LOG_PERIOD", 7])
    hook = FrequencyGateHook.from_config(cls_gate, output_dir="out", dataset_name="val")
    assert (hook.lam, hook.tau_schedule, hook.log_period, hook.rates_file) == (0.3, "constant", 7,
                                                                               "gate_selection_rates.json")
    assert hook.schedule(0, 10) == (2.0, 0.3) and hook.output_dir == "out"
    det_hook = FrequencyGateHook.from_config(det_gate, output_dir="out")
    assert (det_hook.lam, det_hook.tau_schedule, det_hook.log_period) == (1.0, "exp", 20)


def test_classification_imports_no_detection_code():
    """The layer rule: freqdet.classification imports freqdet.core, .analysis and .engine, never freqdet.detection."""
    folder = os.path.join(REPO, "freqdet", "classification")
    seen = set()
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".py"):
            continue
        tree = ast.parse(open(os.path.join(folder, name)).read())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                module = ("freqdet." if node.level == 2 else "") + (node.module or "")
                if node.level == 1:
                    continue  # within freqdet.classification
            elif isinstance(node, ast.Import):
                module = node.names[0].name
            else:
                continue
            if module.startswith("freqdet"):
                seen.add((name, module.split(".")[1]))
    layers = {layer for _, layer in seen}
    assert layers <= {"core", "analysis", "engine"}, sorted(seen)
    assert ("trainer.py", "engine") in seen and ("models.py", "core") in seen
