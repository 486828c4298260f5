"""Classifier training on a tiny real JPEG ImageFolder: tools/train_classifier.py end to end (one and two
processes), and ClassificationTrainer from a config for eval, resume, baselines, the gate and errors."""
import json
import os
import subprocess
import sys

import pytest
import torch

from detectron2.engine import default_argument_parser

from classification_utils import TINY, tiny_cfg, train, write_tiny_imagefolder
from freqdet.classification.trainer import ClassificationTrainer, main
from freqdet.core import parse_channels
from freqdet.engine.checkpoint import SafeCheckpointer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(REPO, "tools", "train_classifier.py")


@pytest.fixture(scope="module")
def data(tmp_path_factory, photos):
    return write_tiny_imagefolder(tmp_path_factory.mktemp("imagefolder"), photos)


def run_tool(*args, timeout=300):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-W", "ignore", TOOL, *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def cli(data, out, *opts):
    """tools/train_classifier.py's KEY VALUE overrides for a tiny run of ``data`` into ``out``."""
    return [str(v) for v in ("DATASETS.ROOT", data, "OUTPUT_DIR", out, *TINY, *opts)]


def evaluate(cfg, weights):
    trainer = ClassificationTrainer(cfg)
    trainer.load_for_eval(weights)
    return trainer.test()


def metrics(out):
    with open(os.path.join(out, "metrics.json")) as f:
        return [json.loads(line) for line in f]


def evals(out):
    with open(os.path.join(out, "eval_results.json")) as f:
        return json.load(f)


def test_train_two_iterations_then_eval_only(data, tmp_path):
    out = str(tmp_path / "run")
    log = run_tool(*cli(data, out, "MODEL.ARCH", "resnet50_dct", "INPUT.DCT.CHANNELS", '["24"]'))
    assert "Starting training from iteration 0" in log
    assert os.path.isfile(os.path.join(out, "config.yaml"))  # Detectron2's default_setup saved the config
    rows = metrics(out)
    assert [r["iteration"] for r in rows if "loss_cls" in r or "total_loss" in r][:2] == [0, 1]
    final = evals(out)[-1]
    assert final["num_images"] == 6 and 0 <= final["top1"] <= final["top5"] <= 100
    assert any("val/top1" in r for r in rows)  # eval result went through EventStorage to the writers
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(out))

    ckpt = torch.load(os.path.join(out, "model_final.pth"), map_location="cpu", weights_only=False)
    keys = set(ckpt["model"])
    assert "layer1.0.downsample.0.weight" in keys and "fc.weight" in keys
    assert not any(k.startswith(("conv1", "bn1")) for k in keys)  # torchvision names, no stem
    assert ckpt["meta"]["channels"] == parse_channels("24") and ckpt["meta"]["arch"] == "resnet50_dct"
    assert len(ckpt["meta"]["dct_mean"]) == 24 and ckpt["meta"]["classes"] == ["astronaut", "chelsea", "coffee"]
    assert ckpt["iteration"] == 1

    # --eval-only on the checkpoint reproduces the end-of-training evaluation exactly.
    out2 = str(tmp_path / "eval")
    main(default_argument_parser().parse_args(
        ["--eval-only", *cli(data, out2, "MODEL.ARCH", "resnet50_dct", "MODEL.WEIGHTS", os.path.join(out, "model_final.pth"))]))
    again = evals(out2)[-1]
    assert again["top1"] == final["top1"] and again["top5"] == final["top5"]

    # INPUT.DCT.ON_DEVICE: the loader ships uint8 crops, the model computes the DCT; same checkpoint, same logits.
    def val_logits(*extra):
        trainer = ClassificationTrainer(tiny_cfg(data, tmp_path / "cmp", "MODEL.ARCH", "resnet50_dct", *extra))
        trainer.load_for_eval(os.path.join(out, "model_final.pth"))
        images = torch.stack([trainer.val_set[i][0] for i in range(3)])
        with torch.no_grad():
            return images, trainer.model.eval()((images, None))

    loader_images, loader_logits = val_logits()
    device_images, device_logits = val_logits("INPUT.DCT.ON_DEVICE", True)
    assert loader_images.shape == (3, 24, 8, 8) and device_images.dtype == torch.uint8
    assert device_images.shape == (3, 3, 64, 64)
    torch.testing.assert_close(device_logits, loader_logits, atol=1e-3, rtol=1e-3)


def test_resume_continues_from_saved_iteration(data, tmp_path):
    """Killed after the iteration-1 checkpoint and resumed: the gated classifier (Gumbel noise, tau/lambda,
    BatchNorm statistics, momentum) ends with the uninterrupted run's weights."""
    out = str(tmp_path / "run")
    cfg = tiny_cfg(data, out, "MODEL.ARCH", "mobilenet_v2_dct", "MODEL.FREQ_GATE.ENABLED", True,
                   "SOLVER.MAX_ITER", 4, "SOLVER.CHECKPOINT_PERIOD", 2, "TEST.EVAL_PERIOD", 100,
                   "MODEL.FREQ_GATE.LAMBDA_WARMUP_ITERS", 2)
    train(cfg)
    assert os.path.exists(os.path.join(out, "model_0000001.pth"))
    uninterrupted = torch.load(os.path.join(out, "model_final.pth"), map_location="cpu", weights_only=True)
    gate_rows = {r["iteration"]: r for r in metrics(out) if "gate/tau" in r}
    # Pretend the job died after the first checkpoint: only that file survives.
    os.remove(os.path.join(out, "model_final.pth"))
    os.remove(os.path.join(out, "model_0000003.pth"))
    with open(os.path.join(out, "last_checkpoint"), "w") as f:
        f.write("model_0000001.pth")
    os.remove(os.path.join(out, "metrics.json"))
    train(cfg, resume=True)
    assert sorted({r["iteration"] for r in metrics(out) if "total_loss" in r}) == [2, 3]
    ckpt = torch.load(os.path.join(out, "model_final.pth"), map_location="cpu", weights_only=True)
    assert ckpt["iteration"] == 3 and "optimizer" in ckpt["trainer"]["_trainer"]
    assert set(ckpt["model"]) == set(uninterrupted["model"])
    for k, v in uninterrupted["model"].items():
        torch.testing.assert_close(ckpt["model"][k], v, rtol=1e-5, atol=1e-6, msg=k)
    resumed = {r["iteration"]: r for r in metrics(out) if "gate/tau" in r}
    for it in (2, 3):  # unsmoothed: schedules and the sampled masks
        for key in ("gate/tau", "gate/lambda", "gate/channels_on"):
            assert resumed[it][key] == pytest.approx(gate_rows[it][key], rel=1e-6), (it, key)


def test_two_process_cpu_run(data, tmp_path):
    """Detectron2's launch with 2 gloo processes: DDP training and an evaluation sharded over both."""
    out = str(tmp_path / "ddp")
    log = run_tool("--num-gpus", "2", "--dist-url", "auto", *cli(data, out, "MODEL.ARCH", "resnet50_dct"))
    assert "Starting training from iteration 0" in log
    assert evals(out)[-1]["num_images"] == 6  # both shards gathered, none twice
    ckpt = torch.load(os.path.join(out, "model_final.pth"), map_location="cpu", weights_only=False)
    assert ckpt["iteration"] == 1
    # the same weights evaluated by one process: the same top-1/top-5 as the 2-process evaluation
    one = evaluate(tiny_cfg(data, tmp_path / "one", "MODEL.ARCH", "resnet50_dct"), os.path.join(out, "model_final.pth"))
    assert {k: one[k] for k in ("top1", "top5", "num_images")} == \
        {k: evals(out)[-1][k] for k in ("top1", "top5", "num_images")}


@pytest.mark.parametrize("arch,extra", [("resnet50", ["INPUT.SIZE", 32]),
                                        ("mobilenet_v2", ["INPUT.SIZE", 32]),
                                        ("resnet50_dct", ["MODEL.FREQ_GATE.ENABLED", True, "MODEL.FREQ_GATE.LAMBDA", 0.5])])
def test_same_trainer_for_rgb_baselines_and_the_gate(data, tmp_path, arch, extra):
    out = str(tmp_path / arch)
    result = train(tiny_cfg(data, out, "MODEL.ARCH", arch, *extra))
    assert 0 <= result["top1"] <= 100 and result["num_images"] == 6
    rows = metrics(out)
    if "MODEL.FREQ_GATE.ENABLED" in extra:
        assert any("loss_gate" in r and "gate/channels_on" in r for r in rows)
        rates = json.load(open(os.path.join(out, "gate_selection_rates.json")))
        assert rates["num_images"] == 6 and rates["inference"] == "expected_count"
        assert torch.load(os.path.join(out, "model_final.pth"), weights_only=False)["meta"]["channels"] == list(range(192))
    else:
        assert not os.path.exists(os.path.join(out, "dct_stats.json"))  # RGB needs no DCT statistics


def test_gate_inference_rule_comes_from_the_config(data, tmp_path):
    cfg = tiny_cfg(data, tmp_path / "o", "MODEL.ARCH", "mobilenet_v2_dct", "MODEL.FREQ_GATE.ENABLED", True,
                   "MODEL.FREQ_GATE.INFERENCE", "sample")
    assert ClassificationTrainer(cfg).net.gate.inference == "sample"


def test_bad_data_is_a_clear_error(data, tmp_path):
    def run(root, *extra):
        return train(tiny_cfg(root, tmp_path / "o", *extra))

    (tmp_path / "train").mkdir()
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "train")):
        run(tmp_path)
    with pytest.raises(ValueError, match="fewer than SOLVER.IMS_PER_BATCH 64"):
        run(data, "SOLVER.IMS_PER_BATCH", 64)
    with pytest.raises(ValueError, match="DATASETS.ROOT is not set"):
        run("")
    with pytest.raises(ValueError, match="--eval-only needs MODEL.WEIGHTS"):
        main(default_argument_parser().parse_args(["--eval-only", *cli(data, tmp_path / "o")]))
    mixed = tmp_path / "mixed"
    os.makedirs(mixed / "val" / "other")
    os.symlink(os.path.join(data, "train"), mixed / "train")
    os.symlink(os.path.join(data, "val", "coffee", "0.jpg"), mixed / "val" / "other" / "0.jpg")
    with pytest.raises(ValueError, match="class folders differ"):
        run(mixed)


def test_trained_checkpoint_converts_into_the_detection_backbone(data, tmp_path):
    """Backbone hand-off: train_classifier.py's checkpoint -> tools/convert_weights.py -> FreqRCNN's backbone."""
    from detectron2.modeling import build_model
    from test_detection_model import make_cfg

    out = str(tmp_path / "cls")
    train(tiny_cfg(data, out, "MODEL.ARCH", "resnet50_dct", "INPUT.DCT.CHANNELS", ["24"]))
    ckpt = os.path.join(out, "model_final.pth")
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["model"]
    pkl = str(tmp_path / "r50_dct24.pkl")
    subprocess.run([sys.executable, "-W", "ignore", os.path.join(REPO, "tools", "convert_weights.py"), ckpt,
                    "--channels", "24", "--output", pkl], check=True, cwd=REPO, capture_output=True)
    det = build_model(make_cfg("24", 2, mask=False))
    SafeCheckpointer(det).load(pkl)
    net = det.backbone.bottom_up
    compared = 0
    for s, blocks in enumerate((3, 4, 6, 3), start=1):  # independent renaming: layer{s} -> res{s+1}
        for b in range(blocks):
            block = getattr(net, f"res{s + 1}")[b]
            pairs = [(f"conv{i}.weight", getattr(block, f"conv{i}").weight) for i in (1, 2, 3)]
            if b == 0:
                pairs.append(("downsample.0.weight", block.shortcut.weight))
            for name, param in pairs:
                torch.testing.assert_close(param.detach(), state[f"layer{s}.{b}.{name}"], rtol=0, atol=0)
                compared += 1
    assert compared == 52 and net.res2[0].conv1.weight.shape[1] == 24


def test_learned_stem_from_the_config(data, tmp_path):
    """MODEL.DCT_STEM.NAME conv trains, is saved as dct_stem.* with its name in the metadata, evaluates under
    the same key and is refused under another stem (whose keys would load as missing, leaving it random)."""
    out = str(tmp_path / "stem")
    stem = ["MODEL.ARCH", "mobilenet_v2_dct", "MODEL.DCT_STEM.NAME", "conv"]
    result = train(tiny_cfg(data, out, *stem))
    assert result["num_images"] == 6
    ckpt = torch.load(os.path.join(out, "model_final.pth"), map_location="cpu", weights_only=False)
    assert ckpt["meta"]["dct_stem"] == "conv" and ckpt["model"]["dct_stem.conv1.weight"].shape == (32, 24, 3, 3)
    assert ckpt["model"]["features.1.conv.0.0.weight"].shape == (32, 1, 3, 3)  # torchvision's features.1
    weights = os.path.join(out, "model_final.pth")
    assert evaluate(tiny_cfg(data, tmp_path / "eval", *stem), weights)["top1"] == evals(out)[-1]["top1"]
    with pytest.raises(ValueError, match="has the DCT stem 'conv', not MODEL.DCT_STEM.NAME 'luma_chroma'"):
        evaluate(tiny_cfg(data, tmp_path / "other", "MODEL.ARCH", "mobilenet_v2_dct",
                          "MODEL.DCT_STEM.NAME", "luma_chroma"), weights)
