#!/usr/bin/env python
"""Does the frequency input pay off? RGB vs DCT arms, same recipe, schedule and seeds (`make study`).

Detection (Faster R-CNN R50-FPN, GN, from scratch; bbox AP of COCOEvaluator) on the study set:
large scenes on Debian's mate-backgrounds photos (``--scene`` px) with small objects whose five
classes differ in fine texture as well as shape and colour (freqdet/synthetic/ with scene
parameters), trained and tested at ``R`` = ``--size`` px:

- ``rgb_R``            Detectron2's RGB R50-FPN at R                      (paper Table 3 baseline)
- ``dct24_s2_R``       DCT-24, s=2, at R: same image and feature sizes as rgb_R
- ``dct24_s1_2R``      DCT-24, s=1, at 2R: the backbone cost of rgb_R, 4x the pixels
- ``dct6/64/192_s2_R`` channel count at s=2
- ``dct24_s2_R_src``   INPUT.DCT.FROM_SOURCE: the original resized to 2R before the DCT, the cost
                       of dct24_s2_R (its upsampled twin) but without the detail the downsizing lost

Classification (MobileNetV2, tools/train_classifier.py's engine): ``cls_rgb`` at size/4 vs
``cls_dct24`` at size, equal feature sizes (MobileNetV2's stride-2 first conv vs the stride-8 DCT
grid), on photo patches (freqdet/synthetic/photo_patches.py says what and why).

After the runs: the spectral sensitivity of the first seed's DCT-192 detector per 2x2 band and per
colour component, a gated twin of it (same seed and schedule) for the gate's selection rates, and
both rankings against the square-24 subset and each other (``"spectral_ranking"`` in the JSON).

Every (arm, seed) is one run with SEED set; finished runs are skipped, so the study resumes.
Per arm: per-seed metric, mean ± std, and the cost: GFLOPs (fvcore, one image at R, 1 MAC =
1 flop), bytes handed to the model per image, train s/iter (median of Detectron2's "time").
Writes ``--output`` (JSON) and ``--plot`` (accuracy vs input bytes with std error bars).

    python benchmarks/accuracy.py                      # the study (CPU, ~2 h; see README)
    python benchmarks/accuracy.py --quick              # tiny end-to-end check (minutes)
    python benchmarks/accuracy.py --arms rgb_R dct24_s2_R --seeds 1 2 3 -- MODEL.DEVICE cuda
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = "configs/Demo/mask_rcnn_dct24_R_50_FPN_demo.yaml"
# The study set is written as <work>/datasets/demo and reached, in every subprocess, through the
# demo's builtin names with FREQDET_DATASETS=<work>/datasets (freqdet/synthetic/register.py registers them).
DATASETS = ("freqdet_demo_train", "freqdet_demo_val")
S2 = ["MODEL.RPN.IN_FEATURES", '["p2","p3","p4","p5","p6"]', "MODEL.ROI_HEADS.IN_FEATURES", '["p2","p3","p4","p5"]']
RGB = ["MODEL.META_ARCHITECTURE", "GeneralizedRCNN", "MODEL.BACKBONE.NAME", "build_resnet_fpn_backbone",
       "INPUT.DCT.ON_DEVICE", "True",  # the DCT mapper then hands Detectron2's uint8 image, as DatasetMapper
       "MODEL.PIXEL_STATS_FILE", "", "MODEL.PIXEL_MEAN", "[103.53,116.28,123.675]",
       "MODEL.PIXEL_STD", "[57.375,57.12,58.395]", *S2]


@dataclass
class Plan:
    """Sizes and schedule of one study (the defaults; ``--quick`` shrinks them)."""
    size: int = 192           # R: train/test short = long side of the square scenes after resizing
    scene: int = 384          # side of the generated JPEGs (source pixels): 2R, so s=2 FROM_SOURCE sees them 1:1
    num_train: int = 300
    num_val: int = 100
    iters: int = 300
    batch: int = 2
    seeds: list = field(default_factory=lambda: [1, 2, 3])
    cls_size: int = 128       # DCT classifier input; RGB gets cls_size / 4
    cls_train: int = 60       # patches per class
    cls_val: int = 20
    cls_iters: int = 300
    cls_batch: int = 32
    stats_images: int = 100


QUICK = dict(size=64, scene=128, num_train=4, num_val=2, iters=2, batch=2, seeds=[1], cls_size=64, cls_train=2,
             cls_val=1, cls_iters=2, cls_batch=4, stats_images=4)


def detection_arms(plan: Plan) -> dict:
    """arm -> (config overrides, the size it runs at). Everything else is the shared recipe."""
    R = plan.size
    dct_s2 = lambda ch: ["INPUT.DCT.CHANNELS", f'["{ch}"]', "INPUT.DCT.UPSAMPLE", "2", *S2]
    return {
        "rgb_R": (RGB, R),
        "dct24_s2_R": (dct_s2("24"), R),
        "dct24_s1_2R": (["INPUT.DCT.CHANNELS", '["24"]', "INPUT.DCT.UPSAMPLE", "1"], 2 * R),
        "dct6_s2_R": (dct_s2("6"), R),
        "dct64_s2_R": (dct_s2("64"), R),
        "dct192_s2_R": (dct_s2("192"), R),
        "dct24_s2_R_src": (dct_s2("24") + ["INPUT.DCT.FROM_SOURCE", "True"], R),
    }


CLS_ARMS = ("cls_rgb", "cls_dct24")


def recipe(plan: Plan, size: int) -> list:
    """The schedule and sizes every detection arm shares (Faster R-CNN: bbox AP is the measure)."""
    steps = sorted({min(plan.iters - 1, max(1, int(plan.iters * f))) for f in (0.75, 0.9)})
    steps = "(" + ",".join(map(str, steps)) + ",)"
    return ["MODEL.MASK_ON", "False", "DATASETS.TRAIN", f'("{DATASETS[0]}",)', "DATASETS.TEST", f'("{DATASETS[1]}",)',
            "INPUT.MIN_SIZE_TRAIN", f"({size},)", "INPUT.MAX_SIZE_TRAIN", str(size),
            "INPUT.MIN_SIZE_TEST", str(size), "INPUT.MAX_SIZE_TEST", str(size),
            # objects ~5..30 px at R: anchors scale with the image (at 2R the objects are twice as large;
            # R's anchors there would sit on twice-as-coarse levels, relative to the object)
            "MODEL.ANCHOR_GENERATOR.SIZES", str([[a * size // plan.size] for a in (8, 16, 32, 64, 128)]).replace(" ", ""),
            "SOLVER.MAX_ITER", str(plan.iters), "SOLVER.STEPS", steps, "SOLVER.IMS_PER_BATCH", str(plan.batch),
            "SOLVER.WARMUP_ITERS", str(max(1, min(50, plan.iters // 4))),
            "SOLVER.CHECKPOINT_PERIOD", "1000000",  # model_final only (disk)
            "TEST.EVAL_PERIOD", "0", "TEST.DETECTIONS_PER_IMAGE", "100"]


# ------------------------------------------------------------------------------- data


def prepare_data(plan: Plan, root: str) -> dict:
    """The study set (once) under ``root``; returns its paths by split. Needs mate-backgrounds."""
    from freqdet.synthetic import coco_writer
    kw = dict(radius_range=(0.02, 0.07), period_range=(2, 4), backgrounds="mate", max_instances=10)
    paths = {}
    for split, n in zip(coco_writer.SPLITS, (plan.num_train, plan.num_val)):
        p = coco_writer.split_paths(root, split)
        try:
            params = coco_writer.read_demo_json(p["json_file"])["info"]["params"]
        except (FileNotFoundError, ValueError):
            params = {}
        if params.get("num_images") != n or params.get("image_size") != [plan.scene] * 2:
            p = coco_writer.generate_split(root, split, n, plan.scene, seed=0, **kw)
        paths[split] = p
    return paths


def register(root: str) -> None:
    """Point the builtin demo names at the study set in this process (subprocesses: FREQDET_DATASETS)."""
    from freqdet.synthetic.register import register_demo_datasets

    register_demo_datasets(root, names=DATASETS)


# --------------------------------------------------------------------------- running


def run(cmd: list, env: dict) -> float:
    """Run a script of this repo; returns its wall-clock seconds."""
    t = time.time()
    subprocess.run([sys.executable, *map(str, cmd)], check=True, cwd=REPO, env=env)
    return time.time() - t


def final_bbox_ap(out: str):
    """bbox/AP of the final evaluation in ``out``/metrics.json, or None while the run is unfinished."""
    path = os.path.join(out, "metrics.json")
    if not os.path.isfile(path) or not os.path.isfile(os.path.join(out, "model_final.pth")):
        return None
    with open(path) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    evals = [r for r in rows if "bbox/AP" in r]
    return evals[-1]["bbox/AP"] if evals else None


def median_time(out: str):
    """Median seconds per training iteration Detectron2 logged (its "time" excludes data waits)."""
    path = os.path.join(out, "metrics.json")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        times = [r["time"] for r in (json.loads(line) for line in f if line.strip()) if "time" in r]
    return statistics.median(times) if times else None


def stats_file(plan, arm_opts, size, work, env) -> str:
    """Per-channel DCT statistics for an arm's s / FROM_SOURCE / size (computed once, shared)."""
    if "GeneralizedRCNN" in arm_opts:
        return ""
    opts = dict(zip(arm_opts[::2], arm_opts[1::2]))
    key = f"s{opts.get('INPUT.DCT.UPSAMPLE', '1')}_{size}{'_src' if 'INPUT.DCT.FROM_SOURCE' in opts else ''}"
    path = os.path.join(work, "stats", f"dct_stats_{key}.json")
    if not os.path.isfile(path):
        run(["tools/compute_dct_stats.py", "--config-file", CONFIG, "--output", path, "--max-images", plan.stats_images,
             *recipe(plan, size), *arm_opts], env)  # all 192 channels: the arms pick theirs
    return path


def detection_run(plan, arm, seed, work, env, extra) -> dict:
    arm_opts, size = detection_arms(plan)[arm]
    out = os.path.join(work, "runs", f"{arm}_seed{seed}")
    stats = stats_file(plan, arm_opts, size, work, env)
    if final_bbox_ap(out) is None:  # finished runs are skipped; an interrupted one starts again
        run(["tools/train_net.py", "--config-file", CONFIG, *recipe(plan, size), *arm_opts,
             "MODEL.PIXEL_STATS_FILE", stats, "SEED", seed, "OUTPUT_DIR", out, *extra], env)
    return {"metric": final_bbox_ap(out), "s_per_iter": median_time(out), "dir": out}


def classification_run(plan, arm, seed, work, data, env, extra) -> dict:
    rgb = arm == "cls_rgb"
    out = os.path.join(work, "runs", f"{arm}_seed{seed}")
    results = os.path.join(out, "eval_results.json")

    def final():
        if not os.path.isfile(results):
            return None
        with open(results) as f:
            rows = [r for r in json.load(f) if r.get("iteration") == plan.cls_iters]
        return rows[-1]["top1"] if rows else None

    side = plan.cls_size // 4 if rgb else plan.cls_size  # equal feature sizes (MobileNetV2: 4x side)
    if final() is None:
        run(["tools/train_classifier.py", "--data", data, "--output-dir", out, "--seed", seed,
             "--arch", "mobilenet_v2" if rgb else "mobilenet_v2_dct", "--channels", "24",
             "--input-size", side, "--resize", side,  # the whole patch: RGB and DCT see the same field of view
             "--max-iter", plan.cls_iters, "--batch-size", plan.cls_batch, "--warmup-epochs", "1",
             "--num-workers", "1", "--no-progress", "--log-period", "10",
             "--stats-images", "200", *extra], env)
    return {"metric": final(), "s_per_iter": median_time(out), "dir": out}


# ------------------------------------------------------------------------------ cost


def detection_cost(plan, arm, work) -> dict:
    """GFLOPs (fvcore via Detectron2's FlopCountAnalysis) and bytes of one val image's model input."""
    import numpy as np
    import torch
    from detectron2.data import DatasetCatalog
    from detectron2.modeling import build_model
    from detectron2.utils.analysis import FlopCountAnalysis

    import freqdet
    from freqdet.detection.mapper import DCTDatasetMapper

    arm_opts, size = detection_arms(plan)[arm]
    cfg = freqdet.config.load_config(os.path.join(REPO, CONFIG), [*recipe(plan, size), *arm_opts, "MODEL.DEVICE", "cpu"])
    if cfg.MODEL.META_ARCHITECTURE != "GeneralizedRCNN":  # statistics do not change the cost
        c = len(freqdet.config.dct_channels(cfg))
        cfg.merge_from_list(["MODEL.PIXEL_STATS_FILE", "", "MODEL.PIXEL_MEAN", [0.0] * c, "MODEL.PIXEL_STD", [1.0] * c])
    mapper = DCTDatasetMapper(cfg, is_train=False)
    dicts = DatasetCatalog.get(DATASETS[1])[:4]
    inputs = [mapper(dict(d)) for d in dicts]
    model = build_model(cfg).eval()
    with torch.no_grad():
        flops = FlopCountAnalysis(model, inputs[:1])
        flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        gflops = flops.total() / 1e9
    nbytes = float(np.mean([x["image"].numel() * x["image"].element_size() for x in inputs]))
    return {"gflops": gflops, "input_bytes": nbytes, "input_shape": list(inputs[0]["image"].shape),
            "image_px": size, "dtype": str(inputs[0]["image"].dtype)}


def classification_cost(plan, arm) -> dict:
    import torch
    from fvcore.nn import FlopCountAnalysis

    from freqdet.classification.models import build_classifier

    rgb = arm == "cls_rgb"
    net = build_classifier("mobilenet_v2" if rgb else "mobilenet_v2_dct", 12, "24").eval()
    shape = (3, plan.cls_size // 4, plan.cls_size // 4) if rgb else (24, plan.cls_size // 8, plan.cls_size // 8)
    flops = FlopCountAnalysis(net, torch.zeros(1, *shape))
    flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    n = shape[0] * shape[1] * shape[2]
    return {"gflops": flops.total() / 1e9, "input_bytes": float(n * 4), "input_shape": list(shape),
            "image_px": plan.cls_size // 4 if rgb else plan.cls_size, "dtype": "torch.float32"}


# The demo gate's settings (configs/Demo/mask_rcnn_dct192_gate_R_50_FPN_demo.yaml says why), on dct192_s2_R.
GATE = ["MODEL.FREQ_GATE.ENABLED", "True", "MODEL.FREQ_GATE.LAMBDA", "0.5", "MODEL.FREQ_GATE.LAMBDA_WARMUP_ITERS", "30",
        "MODEL.FREQ_GATE.GRAD_SCALE", "100.0", "MODEL.FREQ_GATE.TAU", "2.0", "MODEL.FREQ_GATE.TAU_MIN", "0.5"]


def gate_run(plan, work, env, out_dir, extra) -> dict:
    """dct192_s2_R with the learned gate, first seed, same schedule: its selection rates over the val set
    (JSON and heat map copied to ``out_dir`` as study_gate_selection_rates.*, beside the sensitivity maps)."""
    arm_opts, size = detection_arms(plan)["dct192_s2_R"]
    out = os.path.join(work, "runs", f"gate192_s2_R_seed{plan.seeds[0]}")
    rates = os.path.join(out, "gate_selection_rates.json")
    opts = [*recipe(plan, size), *arm_opts, *GATE, "MODEL.PIXEL_STATS_FILE", stats_file(plan, arm_opts, size, work, env),
            "SEED", plan.seeds[0], "OUTPUT_DIR", out, *extra]
    weights = os.path.join(out, "model_final.pth")
    if not os.path.isfile(weights):
        run(["tools/train_net.py", "--config-file", CONFIG, *opts], env)
    data = read_json(rates)
    if "on_probability" not in data:  # missing, or written by an older freqdet: measure again
        run(["tools/train_net.py", "--config-file", CONFIG, "--eval-only", *opts, "MODEL.WEIGHTS", weights], env)
        data = read_json(rates)
    for ext in (".json", ".png"):
        shutil.copyfile(os.path.splitext(rates)[0] + ext, os.path.join(out_dir, "study_gate_selection_rates" + ext))
    from freqdet.core.selection import per_channel_values
    from freqdet.core.plots import plot_channel_grids

    summary = {k: v for k, v in data.items() if k not in ("rates", "names", "on_probability")}
    p_on = per_channel_values(data, "on_probability")
    plot_channel_grids(p_on, os.path.join(out_dir, "study_gate_on_probability.png"), colorbar_label="P(on)",
                       vmin=0.0, vmax=float(p_on.max()), cmap="magma",
                       title=f"gate: training-time P(on) per channel ({data['num_images']} val images, "
                             f"{p_on.sum():.1f} channels expected on)")
    return {"metric": final_bbox_ap(out), "dir": out, "rates_file": rates, **summary}


def read_json(path: str) -> dict:
    """The JSON object in ``path``; {} when there is no file yet."""
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        return json.load(f)


def rankings(sensitivity_files: list, rates_file: str) -> dict:
    """Per sensitivity unit: its ranking against the square-24 subset and the gate, both by the gate's
    inference selection rates and by its training-time on-probabilities (which rank even when the
    inference mask keeps nothing)."""
    from freqdet.core.selection import per_channel_values
    from freqdet.analysis.sensitivity import compare_rankings

    gate = read_json(rates_file)
    out = {}
    for path in sensitivity_files:
        data = read_json(path)
        out[data["unit"]] = {key: compare_rankings(data["units"], data["metric"], per_channel_values(gate, key))
                             for key in ("rates", "on_probability")}
    return out


def spectral_sensitivity(plan, work, env, units, max_images, out_dir, extra) -> list:
    """tools/spectral_sensitivity.py on the first seed's DCT-192 detector, one JSON + heat map per unit."""
    arm_opts, size = detection_arms(plan)["dct192_s2_R"]
    run_dir = os.path.join(work, "runs", f"dct192_s2_R_seed{plan.seeds[0]}")
    outputs = []
    for unit in units:
        out = os.path.join(out_dir, f"spectral_sensitivity_{unit}.json")
        if not os.path.isfile(out):
            run(["tools/spectral_sensitivity.py", "--unit", unit, "--max-images", max_images, "--output", out,
                 "detector", "--config-file", CONFIG, *recipe(plan, size), *arm_opts,
                 "MODEL.PIXEL_STATS_FILE", stats_file(plan, arm_opts, size, work, env),
                 "MODEL.WEIGHTS", os.path.join(run_dir, "model_final.pth"), "OUTPUT_DIR", run_dir, *extra], env)
        outputs.append(out)
    return outputs


# --------------------------------------------------------------------------- summary


def summarize(results: dict) -> dict:
    """Per arm: mean ± std (sample std; 0 for one seed) of the per-seed metric."""
    out = {}
    for arm, r in results["arms"].items():
        values = [v["metric"] for v in r["seeds"].values() if v["metric"] is not None]
        out[arm] = {"n": len(values), "mean": statistics.mean(values) if values else None,
                    "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                    "s_per_iter": statistics.median([v["s_per_iter"] for v in r["seeds"].values()
                                                     if v["s_per_iter"] is not None] or [float("nan")])}
    return out


def table(results: dict) -> str:
    rows = ["| arm | metric | per seed | mean ± std | GFLOPs | input bytes | train s/iter |", "|---|---|---|---|---|---|---|"]
    for arm, s in results["summary"].items():
        r = results["arms"][arm]
        seeds = ", ".join(f"{k}: {v['metric']:.1f}" for k, v in r["seeds"].items() if v["metric"] is not None)
        mean = "–" if s["mean"] is None else f"{s['mean']:.1f} ± {s['std']:.1f}"
        c = r["cost"]
        rows.append(f"| {arm} | {r['metric_name']} | {seeds} | {mean} | {c['gflops']:.3f} | {c['input_bytes'] / 1e3:.0f} kB "
                    f"| {s['s_per_iter']:.2f} |")
    return "\n".join(rows)


def plot(results: dict, path: str) -> str:
    """Accuracy vs bytes to the model, one point per arm with ±std error bars; one panel per task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted({r["metric_name"] for r in results["arms"].values()})
    fig, axes = plt.subplots(1, len(tasks), figsize=(6.5 * len(tasks), 4.6), constrained_layout=True, squeeze=False)
    for ax, task in zip(axes[0], tasks):
        at_x = {}  # arms with equal bytes (RGB, DCT-24 s=2 / s=1 at 2R / FROM_SOURCE) get stacked labels
        for arm, r in results["arms"].items():
            s = results["summary"][arm]
            if r["metric_name"] != task or s["mean"] is None:
                continue
            x = r["cost"]["input_bytes"] / 1e3
            ax.errorbar(x, s["mean"], yerr=s["std"], fmt="o" if "rgb" in arm else "s", capsize=4,
                        color="tab:red" if "rgb" in arm else "tab:blue")
            k = at_x[x] = at_x.get(x, -1) + 1
            ax.annotate(arm, (x, s["mean"]), textcoords="offset points", xytext=(5, 5 + 20 * k), fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel("input bytes per image handed to the model (kB, log)")
        ax.set_ylabel(task)
        ax.set_title(f"{task}: mean ± std over seeds {results['plan']['seeds']}")
        ax.grid(alpha=0.3)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ------------------------------------------------------------------------------ main


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny data and 2 iterations, seed 1: checks the pipeline only")
    p.add_argument("--arms", nargs="+", default=None, help="subset of arms (default: all)")
    p.add_argument("--seeds", type=int, nargs="+", default=None)
    p.add_argument("--iters", type=int, default=None, help="detection iterations (default 300)")
    p.add_argument("--work-dir", default=None, help="runs, data and statistics (default output/study[_quick])")
    p.add_argument("--output", default=None, help="JSON (default docs/study.json; --quick: <work-dir>/study.json)")
    p.add_argument("--plot", default=None, help="PNG (default docs/study.png; --quick: <work-dir>/study.png)")
    p.add_argument("--sensitivity", nargs="*", default=["band", "component"], metavar="UNIT",
                   help="after the runs, spectral sensitivity of the DCT-192 detector per UNIT (none: skip)")
    p.add_argument("--sensitivity-images", type=int, default=50, help="val images for the sensitivity tool")
    p.add_argument("extra", nargs="*", help="after --: config overrides for every detection run (e.g. MODEL.DEVICE cuda)")
    args = p.parse_args(argv)
    plan = Plan(**(QUICK if args.quick else {}))
    if args.seeds:
        plan.seeds = args.seeds
    if args.iters:
        plan.iters = args.iters
    work = os.path.abspath(args.work_dir or os.path.join(REPO, "output", "study_quick" if args.quick else "study"))
    output = args.output or (os.path.join(work, "study.json") if args.quick else os.path.join(REPO, "docs", "study.json"))
    png = args.plot or os.path.splitext(output)[0] + ".png"
    det_arms = detection_arms(plan)
    arms = args.arms or [*det_arms, *CLS_ARMS]
    unknown = [a for a in arms if a not in det_arms and a not in CLS_ARMS]
    if unknown:
        raise SystemExit(f"unknown arms {unknown}; choose from {[*det_arms, *CLS_ARMS]}")

    import freqdet  # noqa: F401
    data_root = os.path.join(work, "datasets", "demo")
    prepare_data(plan, data_root)
    register(data_root)
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", ""), "PYTHONWARNINGS": "ignore",
           "FREQDET_DATASETS": os.path.dirname(data_root)}
    cls_data = None
    if any(a in CLS_ARMS for a in arms):
        from freqdet.synthetic.photo_patches import write_patch_folder

        cls_data = write_patch_folder(os.path.join(work, "patches"), plan.cls_train, plan.cls_val, plan.cls_size)

    results = {"plan": vars(plan), "extra_opts": args.extra, "arms": {}}
    if os.path.isfile(output):  # keep what earlier (partial) invocations measured
        with open(output) as f:
            results["arms"] = json.load(f).get("arms", {})
    for seed in plan.seeds:  # arms alternate within a seed, so load drifts hit all arms alike
        for arm in arms:
            if arm in CLS_ARMS:
                r = classification_run(plan, arm, seed, work, cls_data, env, [])
                entry = results["arms"].setdefault(arm, {"metric_name": "top-1 (%)"})
            else:
                r = detection_run(plan, arm, seed, work, env, args.extra)
                entry = results["arms"].setdefault(arm, {"metric_name": "bbox AP"})
            entry.setdefault("seeds", {})[str(seed)] = r
            if "cost" not in entry:
                entry["cost"] = classification_cost(plan, arm) if arm in CLS_ARMS else detection_cost(plan, arm, work)
            results["summary"] = summarize(results)
            os.makedirs(os.path.dirname(output) or ".", exist_ok=True)
            with open(output, "w") as f:  # after every run: an interrupted study keeps its numbers
                json.dump(results, f, indent=1)
    if args.sensitivity and "dct192_s2_R" in arms:
        results["spectral_sensitivity"] = spectral_sensitivity(plan, work, env, args.sensitivity, args.sensitivity_images,
                                                               os.path.dirname(output), args.extra)
        results["gate"] = gate_run(plan, work, env, os.path.dirname(output), args.extra)
        results["spectral_ranking"] = rankings(results["spectral_sensitivity"], results["gate"]["rates_file"])
        with open(output, "w") as f:
            json.dump(results, f, indent=1)
    print(table(results))
    print(plot(results, png))
    print(output)
    return results


if __name__ == "__main__":
    main()
