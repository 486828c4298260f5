#!/usr/bin/env python
"""Spectral sensitivity of a trained DCT model: the AP / top-1 lost when one frequency unit is removed.

    python tools/spectral_sensitivity.py --unit channel --max-images 200 \\
        detector --config-file configs/... MODEL.WEIGHTS output/dct192/model_final.pth
    python tools/spectral_sensitivity.py --unit band \\
        classifier DATASETS.ROOT datasets/x MODEL.ARCH resnet50_dct INPUT.DCT.CHANNELS '["192"]' \\
        MODEL.WEIGHTS output/cls/model_final.pth OUTPUT_DIR output/cls

One unit at a time (``--unit channel``: each channel; ``band``: each 2x2 frequency band of a
component; ``component``: Y, Cb, Cr) is zeroed in the model's normalized input, i.e. its raw
coefficients are set to their training mean (why the mean and not a raw 0:
:mod:`freqdet.analysis.sensitivity`), and the val set is evaluated as usual (COCOEvaluator for
detectors, top-1/top-5 for classifiers; inputs are mapped once and reused). The baseline is the
plain evaluation. Writes a JSON (baseline, every unit's metrics and drop, and the drop per channel
under ``"drops"``) and, beside it, the drops of ``--metric`` as the three 8x8 grids (Y, Cb, Cr)
the gate's selection-rate heat map uses, so the two read side by side. With ``--unit channel`` on
all 192 channels the JSON also says how many of the 24 costliest channels are in the square-24 subset;
for every unit, ``"ranking"`` compares the units' order with the square-24 subset and, given
``--gate-rates`` (a gated model's ``gate_selection_rates.json``), with the gate's selection rates.
"""
import argparse
import json
import logging
from pathlib import Path

import numpy as np

from freqdet.core.selection import load_selection_rates
from freqdet.analysis.sensitivity import (
    UNITS,
    compare_rankings,
    drops_per_channel,
    frequency_units,
    ranking_vs_subset,
    sensitivity,
)
from freqdet.core.plots import plot_channel_grids

FORMAT = "freqdet.spectral_sensitivity/1"
ZEROING = "normalized input 0 (raw coefficient = its training mean)"
COCO_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl")


def task_config(task: str, argv, load_config, config_required: bool):
    """The task's frozen config from its own arguments (``--config-file``, then KEY VALUE overrides, as
    Detectron2's tools take them) through ``load_config(file, opts)``; MODEL.WEIGHTS must be set."""
    p = argparse.ArgumentParser(prog=f"spectral_sensitivity.py {task}")
    p.add_argument("--config-file", required=config_required, default="", help="the model's config")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides, e.g. MODEL.WEIGHTS model_final.pth")
    a = p.parse_args(argv)
    cfg = load_config(a.config_file, a.opts)
    cfg.freeze()
    if not cfg.MODEL.WEIGHTS:
        raise ValueError(f"{task}: set MODEL.WEIGHTS to the trained {task}'s checkpoint")
    return cfg


def detector(args, argv):
    """(evaluate, module, channels, default output, metric) for a FreqRCNN config + checkpoint."""
    from detectron2.data import DatasetCatalog, build_detection_test_loader
    from detectron2.evaluation import COCOEvaluator, inference_on_dataset
    from detectron2.modeling import build_model

    import freqdet  # noqa: F401  (registers the meta-arch and the demo datasets)
    from freqdet.detection.config import input_spec, load_config
    from freqdet.detection.mapper import DCTDatasetMapper
    from freqdet.engine.checkpoint import SafeCheckpointer

    cfg = task_config("detector", argv, load_config, config_required=True)
    model = build_model(cfg).eval()
    SafeCheckpointer(model).load(cfg.MODEL.WEIGHTS)
    name = cfg.DATASETS.TEST[0]
    dicts = DatasetCatalog.get(name)
    if args.max_images:
        dicts = dicts[:args.max_images]
    loader = build_detection_test_loader(dicts, mapper=DCTDatasetMapper(cfg, is_train=False),
                                         num_workers=cfg.DATALOADER.NUM_WORKERS)
    batches = list(loader)  # mapped once, reused for every unit

    class ImagesRunEvaluator(COCOEvaluator):
        """COCOEvaluator over the images actually run (with --max-images the others are not misses)."""

        def evaluate(self, img_ids=None):
            return super().evaluate(img_ids=img_ids or [d["image_id"] for d in dicts])

    evaluator = ImagesRunEvaluator(name, output_dir=None)

    def evaluate():
        res = inference_on_dataset(model, batches, evaluator)  # resets the evaluator first
        return {f"{task}/{k}": float(v) for task, r in res.items() for k, v in r.items() if k in COCO_KEYS}

    out = Path(cfg.OUTPUT_DIR) / f"spectral_sensitivity_{args.unit}.json"
    return evaluate, model.backbone, list(input_spec(cfg).channels), out, "bbox/AP", len(dicts)


def classifier(args, argv):
    """The same for a checkpoint of tools/train_classifier.py (its config file and KEY VALUE overrides)."""
    import torch

    from freqdet.classification.config import load_classification_config
    from freqdet.classification.evaluation import evaluate_classifier
    from freqdet.classification.models import ARCHS
    from freqdet.classification.trainer import ClassificationTrainer

    cfg = task_config("classifier", argv, load_classification_config, config_required=False)
    if ARCHS[cfg.MODEL.ARCH][1] != "dct":
        raise ValueError(f"MODEL.ARCH {cfg.MODEL.ARCH} takes RGB input: spectral sensitivity needs a DCT classifier")
    trainer = ClassificationTrainer(cfg)
    trainer.load_for_eval(cfg.MODEL.WEIGHTS)
    if args.max_images:
        trainer.val_set = torch.utils.data.Subset(trainer.val_set, range(min(args.max_images, len(trainer.val_set))))
    batches = list(trainer.build_test_loader())

    def run():
        res = evaluate_classifier(trainer.model, batches)
        return {"top1": res["top1"], "top5": res["top5"]}

    out = Path(cfg.OUTPUT_DIR) / f"spectral_sensitivity_{args.unit}.json"
    return run, trainer.net, trainer.channels, out, "top1", len(trainer.val_set)


def plot(drops: dict, metric: str, path, title: str):
    """Drops on a symmetric red (lost) / blue (gained) scale, the gate heat map's three grids."""
    values = np.array([v for v in drops.values() if np.isfinite(v)] or [0.0])
    lim = max(float(np.abs(values).max()), 1e-6)
    return plot_channel_grids(drops, path, title=title, colorbar_label=f"{metric} drop when zeroed",
                              vmin=-lim, vmax=lim, cmap="RdBu_r")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--unit", choices=UNITS, default="channel", help="what is zeroed at a time")
    parser.add_argument("--max-images", type=int, default=None, help="evaluate only the first N val images (speed)")
    parser.add_argument("--metric", default=None, help="metric of the heat map (default bbox/AP or top1)")
    parser.add_argument("--output", help="JSON path (default OUTPUT_DIR/spectral_sensitivity_<unit>.json)")
    parser.add_argument("--gate-rates", help="gate_selection_rates.json to rank against (tools/train_net.py, gate on)")
    parser.add_argument("task", choices=("detector", "classifier"))
    parser.add_argument("task_args", nargs=argparse.REMAINDER, help="the task's own arguments")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    rates = load_selection_rates(args.gate_rates) if args.gate_rates else None  # bad file: fail before evaluating
    evaluate, module, channels, out, metric, num_images = (detector if args.task == "detector" else classifier)(
        args, args.task_args)
    metric = args.metric or metric
    result = sensitivity(evaluate, module, channels, frequency_units(channels, args.unit))
    if metric not in result["baseline"]:
        raise ValueError(f"--metric {metric!r} is not among the measured {sorted(result['baseline'])}")
    drops = drops_per_channel(result["units"], metric)
    out = Path(args.output or out)
    out.parent.mkdir(parents=True, exist_ok=True)
    data = {"format": FORMAT, "task": args.task, "unit": args.unit, "zeroing": ZEROING, "metric": metric,
            "num_images": num_images, "channels": [int(c) for c in channels], **result, "drops": drops}
    if args.unit == "channel" and len(drops) == 192:  # compare with the paper's square-24 subset
        data["ranking_vs_square24"] = ranking_vs_subset(drops, "24")
    data["ranking"] = compare_rankings(result["units"], metric, rates)
    if args.gate_rates:
        data["ranking"]["gate_rates_file"] = str(args.gate_rates)
    out.write_text(json.dumps(data, indent=1))
    top = sorted(result["units"], key=lambda r: -r["drop"][metric])[:5]
    title = (f"{metric} drop per {args.unit} ({num_images} images, baseline {result['baseline'][metric]:.2f}); "
             f"top: {', '.join(r['name'] for r in top[:3])}")
    png = plot(drops, metric, out.with_suffix(".png"), title)
    print(out)
    print(png)
    return data


if __name__ == "__main__":
    main()
