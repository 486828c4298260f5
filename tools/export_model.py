"""Export a frequency-domain R-CNN for deployment (Detectron2's tools/deploy/export_model.py for FreqRCNN).

    python tools/export_model.py --config-file configs/COCO-InstanceSegmentation/mask_rcnn_dct24_R_50_FPN_1x.yaml \\
        --format onnx --export-method tracing --sample-image photo.jpg --output output/export \\
        --run-image photo.jpg MODEL.WEIGHTS output/model_final.pth INPUT.DCT.ON_DEVICE True

Writes OUTPUT/model.ts or OUTPUT/model.onnx and OUTPUT/export_meta.json (docs/export.md: the graph's
named inputs image[, image_size] and outputs boxes, scores, classes[, masks], at the resized size),
then runs the file through freqdet.detection.export.ExportedDetector (test-time resize, DCT,
onnxruntime or TorchScript, rescale to the original image) on the sample image and logs its largest
difference from the eager model in original-image pixels. --run-image IMAGE does the same on
another photo, prints its detections in original-image pixels and writes them to
OUTPUT/detections.json. --run-eval evaluates the exported file on DATASETS.TEST[0] with COCOEvaluator.

The config is a yacs .yaml (overrides KEY VALUE) or a LazyConfig .py (overrides key=value, e.g.
train.init_checkpoint=output/model_final.pth); --dataset NAME=JSON:IMAGE_ROOT registers COCO json data.
--format onnx needs --export-method tracing (Detectron2 exports ONNX from traced graphs only).
With INPUT.DCT.ON_DEVICE True the graph computes the DCT itself and takes the resized uint8
(3, H, W) image in INPUT.FORMAT, like an RGB model; otherwise it takes the DCT tensor and the
pixel size (h, w).
"""
import argparse
import json
import logging
import os

# freqdet first: it imports Detectron2 without the known harmless warnings (freqdet.core.known_warnings)
from freqdet.core.known_warnings import quiet_known_warnings
from freqdet.detection.tool_config import ToolConfigError, add_dataset_argument, load_tool_config

import torch
from detectron2.data import MetadataCatalog, build_detection_test_loader, get_detection_dataset_dicts
from detectron2.evaluation import COCOEvaluator, inference_on_dataset, print_csv_format
from detectron2.utils.logger import setup_logger

from freqdet.detection.export import ExportedDetector, export_scripting, export_tracing
from freqdet.detection.inference import build_test_input
from freqdet.detection.mapper import read_image

logger = logging.getLogger("freqdet.detection.export")


def dataset_class_names(dataset_names):
    """``thing_classes`` of the first of ``dataset_names`` whose metadata has them (None if none does)."""
    for name in dataset_names:
        names = MetadataCatalog.get(name).get("thing_classes")
        if names:
            return list(names)
    return None


def export(args, model, mapper, class_names) -> str:
    """Write the graph (and its export meta) to ``args.output``; returns the graph's path."""
    if args.export_method == "scripting":
        path = export_scripting(model, mapper, args.output, class_names)
    else:
        image = read_image(args.sample_image, format=mapper.image_format)
        path = export_tracing(model, mapper, image, args.format, args.output, class_names)
    logger.info("Exported %s (inputs, outputs, resize: %s)", path, os.path.join(args.output, "export_meta.json"))
    return path


def load_exported(args, path):
    """:class:`ExportedDetector` of ``path``; for ONNX without onnxruntime None (with a warning) when
    only the sample-image check would run, an error when --run-image or --run-eval asks for more."""
    if path.endswith(".onnx"):
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            if args.run_image or args.run_eval:
                raise SystemExit("--run-image and --run-eval run the ONNX file in onnxruntime: pip install onnxruntime")
            logger.warning("onnxruntime is not installed: the ONNX file was not run (pip install onnxruntime)")
            return None
    return ExportedDetector(path)


def largest_difference(eager, exported) -> float:
    """Largest absolute difference of boxes (original-image pixels) and scores between two
    ``Instances`` of the same image; their detections must correspond one to one."""
    if len(eager) != len(exported) or not torch.equal(eager.pred_classes, exported.pred_classes):
        raise RuntimeError(f"the exported graph found {len(exported)} detections (classes "
                           f"{exported.pred_classes.tolist()}), the eager model {len(eager)} "
                           f"({eager.pred_classes.tolist()})")
    if not len(eager):
        return 0.0
    return max(float((eager.pred_boxes.tensor - exported.pred_boxes.tensor).abs().max()),
               float((eager.scores - exported.scores).abs().max()))


def compare(model, mapper, detector, image):
    """(exported Instances, largest |exported - eager|) on one original ``image``, both in its pixels."""
    with torch.no_grad():
        eager = model([build_test_input(mapper, image)])[0]["instances"].to("cpu")
    exported = detector(image)["instances"]
    return exported, largest_difference(eager, exported)


def run_image(args, model, mapper, detector):
    """Detections of the exported file on ``args.run_image`` in original-image pixels: printed and
    written to OUTPUT/detections.json, with the largest difference from the eager model."""
    image = read_image(args.run_image, format=detector.input_format)
    found, diff = compare(model, mapper, detector, image)
    names = detector.class_names
    detections = [{"class": int(c), "class_name": names[int(c)] if names else None, "score": float(s),
                   "box": [round(float(v), 3) for v in b]}
                  for b, s, c in zip(found.pred_boxes.tensor, found.scores, found.pred_classes)]
    print(f"{len(detections)} detections on {args.run_image} ({image.shape[1]}x{image.shape[0]}), "
          f"boxes x0 y0 x1 y1 in its pixels, from {detector.path}:")
    for d in detections:
        print(f"  {d['class_name'] or d['class']:>16} {d['score']:.3f}  " + " ".join(f"{v:8.1f}" for v in d["box"]))
    out = os.path.join(args.output, "detections.json")
    with open(out, "w") as f:
        json.dump({"image": args.run_image, "graph": detector.path, "height": image.shape[0],
                   "width": image.shape[1], "detections": detections, "largest_difference_from_eager": diff}, f,
                  indent=2)
    logger.info("Largest |exported - eager| on %s: %.3g (written to %s)", args.run_image, diff, out)


def run_eval(args, test_datasets, detector):
    """COCO evaluation of the exported file on the first of ``test_datasets`` (as Detectron2's
    --run-eval); the loader uses the test mapper rebuilt from the export meta, as a deployer's would."""
    if not test_datasets:
        raise SystemExit("--run-eval evaluates on DATASETS.TEST[0], which is empty in this config")
    dataset = test_datasets[0]
    loader = build_detection_test_loader(get_detection_dataset_dicts([dataset], filter_empty=False),
                                         mapper=detector.mapper)
    evaluator = COCOEvaluator(dataset, output_dir=os.path.join(args.output, "inference"))
    metrics = inference_on_dataset(lambda inputs: [detector.predict(x) for x in inputs], loader, evaluator)
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
                   help="evaluate the exported file on DATASETS.TEST[0] (COCOEvaluator)")
    p.add_argument("--run-image", metavar="IMAGE",
                   help="run the exported file on this photo: detections in its pixels, printed and "
                        "written to OUTPUT/detections.json")
    add_dataset_argument(p)
    p.add_argument("opts", nargs=argparse.REMAINDER, default=[],
                   help="config overrides, last: KEY VALUE pairs (yacs .yaml) or key=value (LazyConfig .py)")
    args = p.parse_args(argv)
    quiet_known_warnings()
    setup_logger()  # detectron2 (evaluation results)
    setup_logger(name="freqdet")
    if args.format == "onnx" and args.export_method != "tracing":
        p.error("--format onnx needs --export-method tracing (ONNX is exported from a traced graph)")
    try:
        tc = load_tool_config(args.config_file, args.opts, args.dataset)
    except ToolConfigError as e:
        p.error(str(e))
    model = tc.build_model()  # weights-only reads; tensors of other shapes are refused
    mapper = tc.build_mapper(is_train=False)
    path = export(args, model, mapper, dataset_class_names([*tc.test_datasets, *tc.train_datasets]))
    detector = load_exported(args, path)
    if detector is None:
        return
    _, diff = compare(model, mapper, detector, read_image(args.sample_image, format=mapper.image_format))
    logger.info("Largest |exported - eager| on the sample image: %.3g", diff)
    if args.run_image:
        run_image(args, model, mapper, detector)
    if args.run_eval:
        run_eval(args, tc.test_datasets, detector)


if __name__ == "__main__":
    main()
