"""One run at a time, each a script of this repository in its own process (as a user would run it),
and each skipped when its result is already on disk, so an interrupted study resumes where it stopped."""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

from freqdet.synthetic.coco_writer import split_paths

from .arms import CONFIG, DATASETS, GATE, GATE_RULES, REPO, Plan, classification_arms, detection_arms, recipe


RUN_RECORD = "study_run.json"  # in each run dir: how the study ran it


def script_env(datasets: str) -> dict:
    """Every script's environment: this checkout first on the path, the study set behind the demo's names."""
    return {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "PYTHONWARNINGS": "ignore", "FREQDET_DATASETS": datasets}


def run(cmd: list, env: dict) -> float:
    """Run a script of this repo; returns its wall-clock seconds."""
    t = time.time()
    subprocess.run([sys.executable, *map(str, cmd)], check=True, cwd=REPO, env=env)
    return time.time() - t


def train(cmd: list, out: str, env: dict) -> None:
    """Run the training script ``cmd`` into ``out``, first recording there the thread setting it runs under
    (it changes the run: another float summation order). A later ``--collect``, in another process, reads
    it back with :func:`run_threads`."""
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, RUN_RECORD), "w") as f:
        json.dump({"omp_threads": env.get("OMP_NUM_THREADS", "torch default")}, f)
    run(cmd, env)


def run_threads(out: str) -> str:
    """The thread setting the run in ``out`` trained under; "not recorded" for runs older than the record."""
    return read_json(os.path.join(out, RUN_RECORD)).get("omp_threads", "not recorded")


def read_json(path: str) -> dict:
    """The JSON object in ``path``; {} when there is no file yet."""
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        return json.load(f)


def read_metrics(out: str) -> list:
    """The rows of Detectron2's ``out``/metrics.json; [] before the run wrote any."""
    path = os.path.join(out, "metrics.json")
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def final_bbox_ap(out: str):
    """bbox/AP of the final evaluation in ``out``/metrics.json, or None while the run is unfinished."""
    if not os.path.isfile(os.path.join(out, "model_final.pth")):
        return None
    evals = [r for r in read_metrics(out) if "bbox/AP" in r]
    return evals[-1]["bbox/AP"] if evals else None


def median_time(out: str):
    """Median seconds per training iteration Detectron2 logged (its "time" excludes data waits)."""
    times = [r["time"] for r in read_metrics(out) if "time" in r]
    return statistics.median(times) if times else None


def run_dir(work: str, name: str, seed: int) -> str:
    return os.path.join(work, "runs", f"{name}_seed{seed}")


def stats_file(plan: Plan, arm_opts: list, size: int, work: str, env: dict) -> str:
    """Per-channel DCT statistics for an arm's s / FROM_SOURCE / size (computed once, shared); "" for RGB."""
    if "GeneralizedRCNN" in arm_opts:
        return ""
    opts = dict(zip(arm_opts[::2], arm_opts[1::2]))
    key = f"s{opts.get('INPUT.DCT.UPSAMPLE', '1')}_{size}{'_src' if 'INPUT.DCT.FROM_SOURCE' in opts else ''}"
    path = os.path.join(work, "stats", f"dct_stats_{key}.json")
    if not os.path.isfile(path):
        run(["tools/compute_dct_stats.py", "--config-file", CONFIG, "--output", path, "--max-images", plan.stats_images,
             *recipe(plan, size), *arm_opts, "MODEL.BACKBONE.FREEZE_AT", "0"], env)  # all 192 channels: the arms
        # pick theirs; the model does not change them (FREEZE_AT 0: no weights are loaded to freeze)
    return path


def detector_opts(plan: Plan, arm: str, work: str, env: dict) -> list:
    """Everything a run of ``arm``'s detector overrides: the recipe, the arm and its statistics file."""
    a = detection_arms(plan)[arm]
    return [*recipe(plan, a.size, a.iters_factor), *a.opts,
            "MODEL.PIXEL_STATS_FILE", stats_file(plan, a.opts, a.size, work, env)]


def detection_run(plan: Plan, arm: str, seed: int, work: str, env: dict, extra: list) -> dict:
    """tools/train_net.py on one (detection arm, seed): final bbox AP and train s/iter. ``extra``: more
    overrides (a pretrained arm's MODEL.WEIGHTS, the command line's)."""
    out = run_dir(work, arm, seed)
    opts = detector_opts(plan, arm, work, env)
    if final_bbox_ap(out) is None:  # finished runs are skipped; an interrupted one starts again
        train(["tools/train_net.py", "--config-file", CONFIG, *opts, "SEED", seed, "OUTPUT_DIR", out, *extra], out, env)
    return {"metric": final_bbox_ap(out), "s_per_iter": median_time(out), "dir": out}


def train_classifier_command(plan: Plan, arm: str, seed: int, data: str, out: str) -> list:
    """tools/train_classifier.py's command line for one (classification arm, seed)."""
    arch, side, _ = classification_arms(plan)[arm]
    cls = plan.classification
    # the whole patch (INPUT.SIZE = INPUT.RESIZE): RGB and DCT see the same field of view
    return ["tools/train_classifier.py", "DATASETS.ROOT", data, "OUTPUT_DIR", out, "SEED", seed,
            "MODEL.ARCH", arch, "INPUT.DCT.CHANNELS", '["24"]', "INPUT.SIZE", side, "INPUT.RESIZE", side,
            "SOLVER.MAX_ITER", cls.iters, "SOLVER.IMS_PER_BATCH", cls.batch, "SOLVER.WARMUP_EPOCHS", "1.0",
            "DATALOADER.NUM_WORKERS", "1", "PROGRESS", "False", "LOG_PERIOD", "10", "MODEL.PIXEL_STATS_MAX_IMAGES", "200"]


def final_top1(out: str, iters: int):
    """top-1 of the evaluation at iteration ``iters`` in ``out``/eval_results.json, or None before it."""
    rows = [r for r in read_json(os.path.join(out, "eval_results.json")) or [] if r.get("iteration") == iters]
    return rows[-1]["top1"] if rows else None


def classification_run(plan: Plan, arm: str, seed: int, work: str, data: str, env: dict) -> dict:
    """tools/train_classifier.py on one (classification arm, seed): final top-1 and train s/iter."""
    out = run_dir(work, arm, seed)
    if final_top1(out, plan.classification.iters) is None:
        train(train_classifier_command(plan, arm, seed, data, out), out, env)
    return {"metric": final_top1(out, plan.classification.iters), "s_per_iter": median_time(out), "dir": out}


def gate_run(plan: Plan, work: str, env: dict, extra: list) -> dict:
    """dct192_s2_R with the learned gate, first seed, same schedule: its selection rates over the val set,
    and its bbox AP under each inference rule (:func:`eval_bbox_ap` of an evaluation per rule)."""
    out = run_dir(work, "gate192_s2_R", plan.seeds[0])
    rates = os.path.join(out, "gate_selection_rates.json")
    opts = [*detector_opts(plan, "dct192_s2_R", work, env), *GATE, "SEED", plan.seeds[0], "OUTPUT_DIR", out, *extra]
    weights = os.path.join(out, "model_final.pth")
    if not os.path.isfile(weights):
        train(["tools/train_net.py", "--config-file", CONFIG, *opts], out, env)
    data = read_json(rates)
    if "inference" not in data:  # missing, or written by an older freqdet: measure again
        run(["tools/train_net.py", "--config-file", CONFIG, "--eval-only", *opts, "MODEL.WEIGHTS", weights], env)
        data = read_json(rates)
    summary = {k: v for k, v in data.items() if k not in ("rates", "names", "on_probability")}
    by_rule, val_json = {}, split_paths(os.path.join(work, "datasets", "demo"), "val")["json_file"]
    for rule in GATE_RULES:
        rule_dir = os.path.join(out, f"eval_{rule}")
        if eval_bbox_ap(rule_dir, val_json) is None:
            run(["tools/train_net.py", "--config-file", CONFIG, "--eval-only", *opts, "MODEL.WEIGHTS", weights,
                 "MODEL.FREQ_GATE.INFERENCE", rule, "OUTPUT_DIR", rule_dir], env)
        by_rule[rule] = eval_bbox_ap(rule_dir, val_json)
    return {"metric": final_bbox_ap(out), "dir": out, "rates_file": rates, "bbox_ap_by_inference_rule": by_rule,
            **summary}


def eval_bbox_ap(out: str, val_json: str):
    """bbox AP (%) of an ``--eval-only`` run in ``out``, from the predictions Detectron2's COCOEvaluator wrote
    there, scored by pycocotools against ``val_json``; 0.0 when it detected nothing, None before it ran."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    predictions = os.path.join(out, "inference", DATASETS[1], "coco_instances_results.json")
    if not os.path.isfile(predictions):
        return None
    detections = read_json(predictions)
    if not detections:
        return 0.0
    truth = COCO(val_json)
    evaluation = COCOeval(truth, truth.loadRes(detections), "bbox")
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    return float(evaluation.stats[0]) * 100


def gate_subset_run(plan: Plan, seed: int, work: str, env: dict, gate: dict, extra: list) -> dict:
    """DCT-24 s=2 on the 24 channels the gated twin selects most (16 Y, 4 Cb, 4 Cr: square-24's shape)."""
    from freqdet.core.selection import load_selection_rates, select_from_rates

    channels = select_from_rates(load_selection_rates(gate["rates_file"]), per_component=(16, 4, 4))
    out = run_dir(work, "dct24gate_s2_R", seed)
    opts = [*detector_opts(plan, "dct24_s2_R", work, env), "INPUT.DCT.CHANNELS", json.dumps(channels)]
    if final_bbox_ap(out) is None:
        train(["tools/train_net.py", "--config-file", CONFIG, *opts, "SEED", seed, "OUTPUT_DIR", out, *extra], out, env)
    return {"metric": final_bbox_ap(out), "s_per_iter": median_time(out), "dir": out, "channels": channels}


def spectral_sensitivity(plan: Plan, work: str, env: dict, units: list, max_images: int, out_dir: str,
                         extra: list) -> list:
    """tools/spectral_sensitivity.py on the first seed's DCT-192 detector, one JSON + heat map per unit."""
    detector = run_dir(work, "dct192_s2_R", plan.seeds[0])
    outputs = []
    for unit in units:
        out = os.path.join(out_dir, f"spectral_sensitivity_{unit}.json")
        if not os.path.isfile(out):
            run(["tools/spectral_sensitivity.py", "--unit", unit, "--max-images", max_images, "--output", out,
                 "detector", "--config-file", CONFIG, *detector_opts(plan, "dct192_s2_R", work, env),
                 "MODEL.WEIGHTS", os.path.join(detector, "model_final.pth"), "OUTPUT_DIR", detector, *extra], env)
        outputs.append(out)
    return outputs
