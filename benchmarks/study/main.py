"""The study's command line and its order of work: the data, every (seed, arm) with its cost, then the
DCT-192 analyses. docs/study.json is rewritten after every step, so an interrupted study keeps its numbers."""
from __future__ import annotations

import argparse
import json
import os

from . import report
from .arms import PAIRS, REPO, Plan, arm_seeds, classification_arms, detection_arms, quick_plan
from .cost import classification_cost, detection_cost
from .data import prepare_data, prepare_patches, register
from .pretrained import fit_summary, init_weights, pretrain_summary
from .running import (classification_run, detection_run, final_bbox_ap, final_top1, gate_run, gate_subset_run, run_dir,
                      run_threads, script_env, spectral_sensitivity, stats_file)


def build_parser(description: str = "") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    p.add_argument("--collect", action="store_true",
                   help="start no run: gather the finished runs of the work dir into the JSON (e.g. after studies run "
                        "side by side with other --output files)")
    p.add_argument("extra", nargs="*", help="after --: config overrides for every detection run (e.g. MODEL.DEVICE cuda)")
    return p


def repo_relative(value):
    """``value`` with every path inside the repository written relative to it (a committed JSON then names
    the same files on every clone); other paths and values unchanged."""
    if isinstance(value, dict):
        return {k: repo_relative(v) for k, v in value.items()}
    if isinstance(value, list):
        return [repo_relative(v) for v in value]
    if isinstance(value, str) and value.startswith(REPO + os.sep):
        return os.path.relpath(value, REPO)
    return value


def save(results: dict, output: str) -> None:
    os.makedirs(os.path.dirname(output) or ".", exist_ok=True)
    with open(output, "w") as f:
        json.dump(repo_relative(results), f, indent=1)


# The arm trained on the gate's subset (its channels come from the gated twin's rates, after the runs).
GATE_SUBSET_ARM = "dct24gate_s2_R"
# Arms whose weights a later step reads (the spectral sensitivity): never skipped on the JSON's word alone.
KEEP_WEIGHTS = {"dct192_s2_R"}


def summarize(results: dict) -> None:
    """Per-arm mean ± std and the verdict's paired differences, into ``results``."""
    results["summary"] = report.summarize(results)
    results["paired"] = report.paired(results, PAIRS)


def finished(arm: str, seed: int, plan: Plan, work: str) -> bool:
    """Whether (arm, seed) has a finished run in ``work``."""
    out = run_dir(work, arm, seed)
    if arm in classification_arms(plan):
        return final_top1(out, plan.classification.iters) is not None
    return final_bbox_ap(out) is not None


def main(argv=None, description: str = "") -> dict:
    """Run the study ``argv`` asks for (``benchmarks/accuracy.py``'s command line); returns its results."""
    args = build_parser(description).parse_args(argv)
    plan = quick_plan() if args.quick else Plan()
    if args.seeds:
        plan.seeds = args.seeds
    if args.iters:
        plan.detection.iters = args.iters
    work = os.path.abspath(args.work_dir or os.path.join(REPO, "output", "study_quick" if args.quick else "study"))
    output = os.path.abspath(args.output or (os.path.join(work, "study.json") if args.quick
                                             else os.path.join(REPO, "docs", "study.json")))  # scripts run in REPO
    png = args.plot or os.path.splitext(output)[0] + ".png"
    det_arms, cls_arms = detection_arms(plan), classification_arms(plan)
    arms = args.arms or [*det_arms, *cls_arms]
    unknown = [a for a in arms if a not in det_arms and a not in cls_arms]
    if unknown:
        raise SystemExit(f"unknown arms {unknown}; choose from {[*det_arms, *cls_arms]}")

    data_root = os.path.join(work, "datasets", "demo")
    prepare_data(plan, data_root)
    register(data_root)
    env = script_env(os.path.dirname(data_root))
    pretrained = any(a in det_arms and det_arms[a].init for a in arms)
    patches = prepare_patches(plan, work) if pretrained or any(a in cls_arms for a in arms) else None

    results = {}
    if os.path.isfile(output):  # keep what earlier (partial) invocations measured (the gate's and the
        with open(output) as f:  # sensitivity's entries too), for the arms that still exist
            results = json.load(f)
    results.update(plan=plan.to_json(), extra_opts=args.extra,
                   arms={k: v for k, v in results.get("arms", {}).items()
                         if k in det_arms or k in cls_arms or k == GATE_SUBSET_ARM})
    for seed in sorted({*plan.seeds, *plan.more_seeds}):  # arms alternate within a seed: load drifts hit all alike
        for arm in arms:
            recorded = results["arms"].get(arm, {}).get("seeds", {}).get(str(seed), {})
            if recorded.get("metric") is not None and arm not in KEEP_WEIGHTS:
                continue  # the JSON is the record: a study resumes from it on another machine too
            if args.collect and not finished(arm, seed, plan, work):
                continue
            if arm in cls_arms:
                if seed not in plan.seeds:
                    continue
                r = classification_run(plan, arm, seed, work, patches, env)
                entry = results["arms"].setdefault(arm, {"metric_name": "top-1 (%)"})
            else:
                a = det_arms[arm]
                if seed not in arm_seeds(plan, a):
                    continue
                weights = []
                if a.init:  # the pretrained proxy: a backbone made from the RGB classifier pretrained here
                    stats = stats_file(plan, a.opts, a.size, work, env)
                    weights = ["MODEL.WEIGHTS", init_weights(plan, a, work, patches, env, stats)]
                    results["pretrain"] = pretrain_summary(plan, work)
                r = detection_run(plan, arm, seed, work, env, [*weights, *args.extra])
                entry = results["arms"].setdefault(arm, {"metric_name": "bbox AP"})
                if a.init == "fit":  # how well the fitted stem reproduces the RGB stem (held-out R², per channel)
                    entry["stem_fit"] = fit_summary(weights[1])
            r["omp_threads"] = run_threads(r["dir"])  # runs differ with the thread count
            entry.setdefault("seeds", {})[str(seed)] = r
            if "cost" not in entry:
                entry["cost"] = classification_cost(plan, arm) if arm in cls_arms else detection_cost(plan, arm)
            summarize(results)
            save(results, output)
    summarize(results)  # also when every run was already on record
    save(results, output)
    if args.sensitivity and "dct192_s2_R" in arms and not args.collect:
        out_dir = os.path.dirname(output)
        results["spectral_sensitivity"] = spectral_sensitivity(plan, work, env, args.sensitivity,
                                                               args.sensitivity_images, out_dir, args.extra)
        results["gate"] = gate_run(plan, work, env, args.extra)
        report.gate_figures(results["gate"]["rates_file"], out_dir)
        # the static subset the gate picks (16/4/4 by its selection rates, as square-24's shape) vs square-24
        entry = results["arms"].setdefault(GATE_SUBSET_ARM, {"metric_name": "bbox AP"})
        for seed in plan.seeds:
            entry.setdefault("seeds", {})[str(seed)] = gate_subset_run(plan, seed, work, env, results["gate"], args.extra)
        entry["channels"] = results["gate"]["subset"] = entry["seeds"][str(plan.seeds[0])]["channels"]
        entry["cost"] = detection_cost(plan, "dct24_s2_R")  # any 24 channels cost the same
        summarize(results)
        results["spectral_ranking"] = report.rankings(results["spectral_sensitivity"], results["gate"]["rates_file"])
        save(results, output)
    print(report.table(results))
    print(report.plot(results, png))
    print(output)
    return results
