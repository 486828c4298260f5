#!/usr/bin/env python
"""Export a frequency-domain R-CNN for deployment (Detectron2's tools/deploy/export_model.py for FreqRCNN).

    python tools/export_model.py --config-file configs/COCO-InstanceSegmentation/mask_rcnn_dct24_R_50_FPN_1x.yaml \\
        --format torchscript --export-method tracing --sample-image photo.jpg --output output/export \\
        MODEL.WEIGHTS output/model_final.pth INPUT.DCT.ON_DEVICE True

The config is a yacs .yaml (overrides KEY VALUE) or a LazyConfig .py (overrides key=value, e.g.
train.init_checkpoint=output/model_final.pth).

Writes OUTPUT/model.ts or OUTPUT/model.onnx, then runs the exported model on the sample input and
logs its largest difference from the eager model (boxes and scores in original-image pixels for
TorchScript; the raw graph outputs in onnxruntime for ONNX, when installed). --run-eval then
evaluates the TorchScript file on DATASETS.TEST[0] with COCOEvaluator.
--format onnx needs --export-method tracing (Detectron2 exports ONNX from traced graphs only).
With INPUT.DCT.ON_DEVICE True the graph computes the DCT itself and takes the resized uint8
(3, H, W) image in INPUT.FORMAT, like an RGB model; otherwise it takes the DCT tensor and the
pixel size (h, w). Outputs are at the network's input size (do_postprocess=False, as Detectron2's).
"""
import argparse
import logging
import os

# freqdet first: it imports Detectron2 without the known harmless warnings (freqdet.core.known_warnings)
from freqdet.core.known_warnings import quiet_known_warnings
from freqdet.detection.tool_config import ToolConfigError, add_dataset_argument, load_tool_config

import torch
from detectron2.evaluation import COCOEvaluator, inference_on_dataset, print_csv_format
from detectron2.utils.logger import setup_logger

from freqdet.detection.export import (
    export_scripting,
    export_tracing,
    flat_inputs,
    graph_inputs,
    postprocess,
)
from freqdet.detection.inference import build_test_input
from freqdet.detection.mapper import read_image

logger = logging.getLogger("freqdet.detection.export")


def max_difference(eager, outputs) -> float:
    """Largest absolute difference over the output tensors (shapes must match)."""
    worst = 0.0
    for a, b in zip(eager, outputs):
        a, b = torch.as_tensor(a).float(), torch.as_tensor(b).float()
        if a.shape != b.shape:
            raise RuntimeError(f"exported output shape {tuple(b.shape)} differs from eager {tuple(a.shape)}")
        worst = max(worst, float((a - b).abs().max()) if a.numel() else 0.0)
    return worst


def exported_model(args, model, adapter):
    """The saved TorchScript file as a Detectron2 model: mapper-style inputs (one image) ->
    ``[{"instances"}]`` in original-image pixels (the final resize runs outside the graph)."""
    ts = torch.jit.load(os.path.join(args.output, "model.ts"))

    def run(inputs):
        with torch.no_grad(), torch.jit.optimized_execution(False):  # no JIT re-profiling per image size
            if adapter is None:  # scripted: takes the input dicts
                outputs = ts(tuple(graph_inputs(model, inputs[:1])))
            else:
                outputs = ts(*flat_inputs(model, inputs))
        return postprocess(adapter, outputs, inputs)

    return run


def check(args, model, inputs, adapter):
    """Largest difference between the saved graph and the eager model on the sample input."""
    with torch.no_grad():
        eager = model(inputs)[0]["instances"]
    if args.format == "torchscript":
        out = exported_model(args, model, adapter)(inputs)[0]["instances"]
        return max_difference([eager.pred_boxes.tensor, eager.scores], [out.pred_boxes.tensor, out.scores])
    try:
        import onnxruntime
    except ImportError:
        logger.warning("onnxruntime is not installed: the ONNX file was not run")
        return None
    sess = onnxruntime.InferenceSession(os.path.join(args.output, "model.onnx"))
    flat = flat_inputs(model, inputs)
    out = sess.run(None, {i.name: t.numpy() for i, t in zip(sess.get_inputs(), flat)})
    with torch.no_grad():
        return max_difference(adapter(*flat), out)


def run_eval(args, tc, model, adapter):
    """COCO evaluation of the exported TorchScript model on the config's first test dataset (as Detectron2's
    --run-eval)."""
    dataset = tc.test_datasets[0]
    loader = tc.build_test_loader(dataset)
    evaluator = COCOEvaluator(dataset, output_dir=os.path.join(args.output, "inference"))
    metrics = inference_on_dataset(exported_model(args, model, adapter), loader, evaluator)
    print_csv_format(metrics)
    return metrics


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--format", choices=["torchscript", "onnx"], default="torchscript")
    p.add_argument("--export-method", choices=["tracing", "scripting"], default="tracing")
    p.add_argument("--config-file", required=True, metavar="FILE", help="yacs .yaml or LazyConfig .py")
    p.add_argument("--sample-image", required=True, help="image traced with (and checked on)")
    p.add_argument("--output", required=True, help="output directory")
    p.add_argument("--run-eval", action="store_true",
                   help="evaluate the exported TorchScript model on DATASETS.TEST[0] (COCOEvaluator)")
    add_dataset_argument(p)
    p.add_argument("opts", nargs=argparse.REMAINDER, default=[],
                   help="config overrides, last: KEY VALUE pairs (yacs .yaml) or key=value (LazyConfig .py)")
    args = p.parse_args(argv)
    quiet_known_warnings()
    setup_logger()  # detectron2 (evaluation results)
    setup_logger(name="freqdet")
    if args.format == "onnx" and args.export_method != "tracing":
        p.error("--format onnx needs --export-method tracing (ONNX is exported from a traced graph)")
    if args.run_eval and args.format != "torchscript":
        p.error("--run-eval evaluates TorchScript exports only")
    try:
        tc = load_tool_config(args.config_file, args.opts, args.dataset)
    except ToolConfigError as e:
        p.error(str(e))
    model = tc.build_model()  # weights-only reads; tensors of other shapes are refused
    inputs = [build_test_input(tc.build_mapper(is_train=False), read_image(args.sample_image, tc.input_format))]
    adapter = None
    if args.export_method == "scripting":
        export_scripting(model, args.output)
    else:
        adapter = export_tracing(model, inputs, args.format, args.output)
        logger.info("Inputs schema: %s", adapter.inputs_schema)
        logger.info("Outputs schema: %s", adapter.outputs_schema)
    name = "model.onnx" if args.format == "onnx" else "model.ts"
    logger.info("Exported %s", os.path.join(args.output, name))
    diff = check(args, model, inputs, adapter)
    if diff is not None:
        logger.info("Largest |exported - eager| on the sample image: %.3g", diff)
    if args.run_eval:
        run_eval(args, tc, model, adapter)


if __name__ == "__main__":
    main()
