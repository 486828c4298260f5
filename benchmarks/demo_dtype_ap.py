#!/usr/bin/env python
"""Does float16 transport change AP? The demo trained with INPUT.DCT.DTYPE float32 and float16, same seeds.

Each (dtype, seed) is one `tools/train_net.py` run of the demo config with SEED set; the final
COCO bbox/segm AP is read from its metrics.json. Each trained model is then also evaluated with
the other dtype's input ("paired": the same weights, so the difference is float16 rounding alone,
free of seed noise). Prints per-seed AP, mean and std per dtype, and writes them as JSON. Expects
the demo set and its statistics (`make demo` makes both).

    python benchmarks/demo_dtype_ap.py --seeds 1 2 3 --output output/benchmarks/demo_dtype_ap.json [MODEL.DEVICE cuda]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = "configs/Demo/mask_rcnn_dct24_R_50_FPN_demo.yaml"


def final_ap(metrics_file):
    """Last bbox/AP and segm/AP that Detectron2's EvalHook wrote."""
    with open(metrics_file) as f:
        rows = [json.loads(line) for line in f if "bbox/AP" in line]
    if not rows:
        raise RuntimeError(f"{metrics_file} holds no evaluation")
    return rows[-1]["bbox/AP"], rows[-1].get("segm/AP", float("nan"))  # no segm key without detections


def evaluate(train_dir, dtype, stats, opts):
    """COCO bbox/segm AP of ``train_dir``'s final model with DCT inputs handed as ``dtype``."""
    from detectron2.data import build_detection_test_loader
    from detectron2.evaluation import COCOEvaluator, inference_on_dataset
    from detectron2.modeling import build_model

    import freqdet  # noqa: F401  (registers FreqRCNN and the demo datasets)
    from freqdet.detection.config import load_config
    from freqdet.detection.mapper import DCTDatasetMapper
    from freqdet.engine.checkpoint import SafeCheckpointer

    cfg = load_config(os.path.join(REPO, CONFIG), ["INPUT.DCT.DTYPE", dtype, "MODEL.PIXEL_STATS_FILE", stats, *opts])
    model = build_model(cfg).eval()
    SafeCheckpointer(model).load(os.path.join(train_dir, "model_final.pth"))
    name = cfg.DATASETS.TEST[0]
    loader = build_detection_test_loader(cfg, name, mapper=DCTDatasetMapper(cfg, is_train=False))
    res = inference_on_dataset(model, loader, COCOEvaluator(name, output_dir=os.path.join(train_dir, f"eval_{dtype}")))
    return res["bbox"]["AP"], res.get("segm", {}).get("AP", float("nan"))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--dtypes", nargs="+", default=["float32", "float16"])
    p.add_argument("--stats", default="output/demo/dct_stats.json")
    p.add_argument("--work-dir", default="output/demo_dtype_ap")
    p.add_argument("--output", default="output/benchmarks/demo_dtype_ap.json")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="extra config overrides for every run")
    args = p.parse_args()
    results = {dtype: {} for dtype in args.dtypes}
    other = {"float32": "float16", "float16": "float32"}  # the paired evaluation's input dtype
    paired = {f"{d} weights, {other[d]} input": {} for d in args.dtypes}
    for seed in args.seeds:  # dtypes alternate within a seed, so load drifts hit both
        for dtype in args.dtypes:
            out = os.path.join(args.work_dir, f"{dtype}_seed{seed}")
            if not os.path.isfile(os.path.join(out, "model_final.pth")):  # finished runs are reused
                subprocess.run([sys.executable, os.path.join(REPO, "tools", "train_net.py"), "--config-file", CONFIG,
                                "SEED", str(seed), "INPUT.DCT.DTYPE", dtype, "MODEL.PIXEL_STATS_FILE", args.stats,
                                "OUTPUT_DIR", out, *args.opts], check=True, cwd=REPO)
            results[dtype][seed] = final_ap(os.path.join(out, "metrics.json"))
            paired[f"{dtype} weights, {other[dtype]} input"][seed] = evaluate(
                out, other[dtype], os.path.join(REPO, args.stats), args.opts)
    print("| dtype | " + " | ".join(f"seed {s} bbox / segm" for s in args.seeds) + " | mean ± std bbox | mean ± std segm |")
    print("|---|" + "---|" * (len(args.seeds) + 2))
    summary = {}
    for dtype, per_seed in {**results, **paired}.items():
        bbox, segm = [per_seed[s][0] for s in args.seeds], [per_seed[s][1] for s in args.seeds]
        sd = (lambda x: statistics.stdev(x) if len(x) > 1 else 0.0)
        summary[dtype] = {"bbox": [statistics.mean(bbox), sd(bbox)], "segm": [statistics.mean(segm), sd(segm)]}
        cells = " | ".join(f"{b:.1f} / {m:.1f}" for b, m in zip(bbox, segm))
        print(f"| {dtype} | {cells} | {summary[dtype]['bbox'][0]:.1f} ± {summary[dtype]['bbox'][1]:.1f} | "
              f"{summary[dtype]['segm'][0]:.1f} ± {summary[dtype]['segm'][1]:.1f} |")
    os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
    with open(args.output, "w") as f:
        json.dump({"config": CONFIG, "opts": args.opts, "per_seed": results, "paired": paired, "summary": summary},
                  f, indent=1)


if __name__ == "__main__":
    main()
