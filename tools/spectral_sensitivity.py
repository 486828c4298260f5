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
import logging
from pathlib import Path

from freqdet.analysis.sensitivity import UNITS, write_sensitivity_report


def task_config(task: str, argv):
    """The task's frozen config from its own arguments (``--config-file``, then KEY VALUE overrides, as
    Detectron2's tools take them)."""
    if task == "detector":
        from freqdet.detection.config import load_config
    else:
        from freqdet.classification.config import load_classification_config as load_config
    p = argparse.ArgumentParser(prog=f"spectral_sensitivity.py {task}")
    p.add_argument("--config-file", required=task == "detector", default="", help="the model's config")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides, e.g. MODEL.WEIGHTS model_final.pth")
    a = p.parse_args(argv)
    cfg = load_config(a.config_file, a.opts)
    cfg.freeze()
    return cfg


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
    cfg = task_config(args.task, args.task_args)
    if args.task == "detector":
        import freqdet  # noqa: F401  (registers the meta-arch and the demo datasets)
        from freqdet.detection.sensitivity import detector_target as target
    else:
        from freqdet.classification.sensitivity import classifier_target as target
    output = args.output or Path(cfg.OUTPUT_DIR) / f"spectral_sensitivity_{args.unit}.json"
    write_sensitivity_report(target(cfg, args.max_images), args.unit, output, args.metric, args.gate_rates)
    print(output)
    print(Path(output).with_suffix(".png"))


if __name__ == "__main__":
    main()
