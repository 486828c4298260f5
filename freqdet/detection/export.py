"""Export FreqRCNN to TorchScript or ONNX with a fixed, named contract, and run the exported file.

The exported graph is :class:`DetectionGraph`: ``inference(do_postprocess=False)`` of one image with
tensors in and a fixed tuple out (no Detectron2 structures cross the graph's boundary):

    inputs   image        uint8 (3, H, W) in INPUT.FORMAT, the resized image   (INPUT.DCT.ON_DEVICE)
                          or the DCT tensor (C, ceil(H*s/8), ceil(W*s/8))       (otherwise)
             image_size   int64 (2,): (H, W) of the resized image               (DCT input only)
    outputs  boxes        float32 (N, 4): x0, y0, x1, y1 in pixels of the resized image
             scores       float32 (N,)
             classes      int64 (N,): 0-based contiguous class ids (``class_names`` in the meta)
             masks        float32 (N, 1, M, M): per-box mask probabilities, not pasted (mask models
                          only; M = 2 x ROI_MASK_HEAD.POOLER_RESOLUTION, 28 in Detectron2's configs)

The same names and order in ONNX (``input_names``/``output_names``, H, W and N dynamic) and in
TorchScript (``forward(image[, image_size])`` returns the tuple). Tracing runs under
Detectron2's ``patch_builtin_len`` as :class:`~detectron2.export.TracingAdapter` does; the
adapter's flattening is not needed since inputs and outputs are already flat tensors, and tracing
the wrapper itself keeps the argument names. Scripting goes through ``scripting_with_instances``.

What the graph leaves out (the test-time resize, the loader-side DCT, the rescale to the original
image) is described in the export meta, :func:`export_meta`, which every export writes into the
graph file (a TorchScript extra file, ONNX ``metadata_props``) and beside it as ``export_meta.json``;
:class:`ExportedDetector` reads it back and runs the file like :class:`~freqdet.detection.inference.DCTPredictor`.
"""
from __future__ import annotations

import json
import os
from typing import Dict, List, Optional, Sequence, Tuple
from unittest import mock

import numpy as np
import torch
from detectron2.data import transforms as T
from detectron2.export import dump_torchscript_IR, scripting_with_instances
from detectron2.export.torchscript_patch import patch_builtin_len
from detectron2.modeling.postprocessing import detector_postprocess
from detectron2.structures import Boxes, Instances
from torch import Tensor, nn

from freqdet.core.input_spec import InputSpec

from .inference import build_test_input
from .mapper import DCTDatasetMapper

__all__ = ["DetectionGraph", "ExportedDetector", "MaskDetectionGraph", "META_FILE", "OUTPUT_NAMES",
           "detection_graph", "export_meta", "export_scripting", "export_tracing", "graph_inputs",
           "input_names", "output_names", "test_mapper"]

ONNX_OPSET = 17  # torchvision's roi_align(aligned=True) needs >= 16
OUTPUT_NAMES = ("boxes", "scores", "classes", "masks")
# Instances field of each output (Detectron2's names), for mapping outputs back to Instances.
OUTPUT_FIELDS = {"boxes": "pred_boxes", "scores": "scores", "classes": "pred_classes", "masks": "pred_masks"}
META_FILE = "export_meta.json"  # written beside the graph, for readers that do not load it
META_KEY = "freqdet_export"  # the copy inside the graph file, what ExportedDetector reads
META_VERSION = 1


def input_names(model) -> Tuple[str, ...]:
    """``("image",)`` with on-device DCT (the image is its own size), else ``("image", "image_size")``:
    the DCT grid alone does not give the pixel size the boxes live in."""
    return ("image",) if model.input_dct is not None else ("image", "image_size")


def output_names(model) -> Tuple[str, ...]:
    """``(boxes, scores, classes)``, plus ``masks`` for a model with a mask head."""
    return OUTPUT_NAMES if _has_masks(model) else OUTPUT_NAMES[:3]


def _has_masks(model) -> bool:
    return bool(getattr(model.roi_heads, "mask_on", False))


def graph_inputs(inputs: Dict, names: Sequence[str]) -> Tuple[Tensor, ...]:
    """The graph's positional inputs ``names`` from one mapper-style input dict
    (:func:`~freqdet.detection.inference.build_test_input`): its ``image``, and its ``image_size``
    as int64 ``(h, w)``."""
    values = {"image": inputs["image"], "image_size": torch.as_tensor(inputs["image_size"], dtype=torch.int64)}
    return tuple(values[n] for n in names)


class DetectionGraph(nn.Module):
    """What is exported: ``forward(image[, image_size]) -> (boxes, scores, classes)`` for one image,
    outputs at the network's input size (``inference(do_postprocess=False)``, as Detectron2 exports)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.eval()

    def instances(self, image: Tensor, image_size: Optional[Tensor]):
        x: Dict[str, Tensor] = {"image": image}
        if image_size is not None:
            x["image_size"] = image_size
        return self.model.inference([x], do_postprocess=False)[0]

    def forward(self, image: Tensor, image_size: Optional[Tensor] = None) -> Tuple[Tensor, Tensor, Tensor]:
        r = self.instances(image, image_size)
        return r.pred_boxes.tensor, r.scores, r.pred_classes


class MaskDetectionGraph(DetectionGraph):
    """:class:`DetectionGraph` of a mask model: ``(boxes, scores, classes, masks)`` (a separate class
    because TorchScript needs one return type per forward)."""

    def forward(self, image: Tensor, image_size: Optional[Tensor] = None) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        r = self.instances(image, image_size)
        return r.pred_boxes.tensor, r.scores, r.pred_classes, r.pred_masks


def detection_graph(model) -> DetectionGraph:
    """The :class:`DetectionGraph` (or :class:`MaskDetectionGraph`) of a FreqRCNN ``model``."""
    return (MaskDetectionGraph if _has_masks(model) else DetectionGraph)(model)


# ---- the export meta: what a deployer must do outside the graph --------------------------------

def _describe_augmentation(aug) -> Dict:
    if type(aug) is not T.ResizeShortestEdge:
        raise ValueError(
            f"the test mapper's augmentation {aug!r} cannot be written into the export meta: only "
            "ResizeShortestEdge (Detectron2's test-time resize, INPUT.MIN_SIZE_TEST / MAX_SIZE_TEST) is"
        )
    return {"type": "ResizeShortestEdge", "short_edge_length": [int(v) for v in aug.short_edge_length],
            "max_size": int(aug.max_size), "sample_style": aug.sample_style, "interp": int(aug.interp)}


def export_meta(model, mapper: DCTDatasetMapper, class_names: Optional[Sequence[str]] = None) -> Dict:
    """What a graph of ``model`` needs from outside to run on an original image: its input and output
    names, ``input_format``, the ``input_spec`` (channels, s, dtype, on-device DCT, FROM_SOURCE) and
    the test mapper's resize, ``class_names`` (or None), and the ``device`` it was exported on."""
    spec = mapper.input_spec
    return {
        "version": META_VERSION,
        "inputs": list(input_names(model)),
        "outputs": list(output_names(model)),
        "input_format": mapper.image_format,
        "input_spec": {"channels": list(spec.channels), "upsample": spec.upsample, "dtype": spec.dtype,
                       "on_device": spec.on_device, "from_source": spec.from_source},
        "test_augmentations": [_describe_augmentation(a) for a in mapper.augmentations.augs],
        "class_names": None if class_names is None else list(class_names),
        "device": str(model.device),
    }


def test_mapper(meta: Dict) -> DCTDatasetMapper:
    """The test DCTDatasetMapper an export ``meta`` describes (the one the model was exported with)."""
    augs = []
    for a in meta["test_augmentations"]:
        a = dict(a)
        if a.pop("type") != "ResizeShortestEdge":
            raise ValueError(f"unknown test augmentation in the export meta: {a}")
        augs.append(T.ResizeShortestEdge(**a))
    return DCTDatasetMapper(False, input_spec=InputSpec(**meta["input_spec"]), augmentations=augs,
                            image_format=meta["input_format"])


def _write_meta(output_dir: str, meta: Dict) -> None:
    with open(os.path.join(output_dir, META_FILE), "w") as f:
        json.dump(meta, f, indent=2)


def _group_norm_for_onnx(self: nn.GroupNorm, x: Tensor) -> Tensor:
    """``nn.GroupNorm.forward`` for ONNX export, reshaping to ``(-1, G, size of a group)``: the exporter's
    own ``group_norm`` reshapes to ``(0, G, -1)`` (0: copy the batch size), and so does onnxruntime's
    ReshapeFusion of an explicit ``(N, G, K)``, which cannot be resolved for an empty batch (a GroupNorm
    mask head, e.g. the demo config's, on an image without detections). With the batch as -1 and the
    group size computed, the shape is resolvable for any batch size."""
    per_group = x.shape[1] // self.num_groups
    for size in x.shape[2:]:
        per_group = per_group * size
    y = x.reshape(-1, self.num_groups, per_group)
    mean = y.mean(dim=2, keepdim=True)
    var = (y - mean).pow(2).mean(dim=2, keepdim=True)
    y = ((y - mean) / torch.sqrt(var + self.eps)).reshape(x.shape)
    if self.affine:
        shape = [1, self.num_channels] + [1] * (x.dim() - 2)
        y = y * self.weight.reshape(shape) + self.bias.reshape(shape)
    return y


def _finish_onnx(path: str, meta: Dict, example_outputs: Sequence[Tensor]) -> None:
    """Write ``meta`` into the ONNX file's ``metadata_props`` and give its outputs their fixed sizes
    (boxes' 4, the masks' M x M; the exporter leaves them symbolic), from ``example_outputs``."""
    import onnx

    model = onnx.load(path)
    onnx.helper.set_model_props(model, {META_KEY: json.dumps(meta)})
    for value, example in zip(model.graph.output, example_outputs):
        for dim, size in list(zip(value.type.tensor_type.shape.dim, example.shape))[1:]:
            dim.dim_value = size  # clears dim_param: a fixed size
    onnx.save(model, path)


# ---- export -----------------------------------------------------------------------------------

def export_tracing(model, mapper: DCTDatasetMapper, image: np.ndarray, fmt: str, output_dir: str,
                   class_names: Optional[Sequence[str]] = None, dump_ir: bool = True) -> str:
    """Trace ``model`` on ``image`` (``(H, W, 3)`` in ``INPUT.FORMAT``, resized by the test ``mapper``)
    and write ``model.ts`` (+ IR dumps unless ``dump_ir=False``) or ``model.onnx`` to ``output_dir``,
    with the export meta inside and beside it. Returns the file's path.

    ONNX: the TorchScript-based ``torch.onnx.export`` (``dynamo=False``, opset 17) of the traced
    graph, named inputs and outputs, image height/width and the detection count dynamic.
    """
    if fmt not in ("torchscript", "onnx"):
        raise ValueError(f"format must be 'torchscript' or 'onnx' for tracing, got {fmt!r}")
    graph = detection_graph(model)
    args = graph_inputs(build_test_input(mapper, image), input_names(model))
    meta = export_meta(model, mapper, class_names)
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, "model.ts" if fmt == "torchscript" else "model.onnx")
    with torch.no_grad(), patch_builtin_len():
        if fmt == "torchscript":
            ts = torch.jit.trace(graph, args)
            torch.jit.save(ts, path, _extra_files={META_KEY: json.dumps(meta)})
            if dump_ir:
                dump_torchscript_IR(ts, output_dir)
        else:
            detections = {n: {0: "detections"} for n in meta["outputs"]}
            with mock.patch.object(nn.GroupNorm, "forward", _group_norm_for_onnx):
                torch.onnx.export(graph, args, path, input_names=meta["inputs"], output_names=meta["outputs"],
                                  dynamic_axes={"image": {1: "height", 2: "width"}, **detections},
                                  opset_version=ONNX_OPSET, dynamo=False)
            _finish_onnx(path, meta, graph(*args))
    _write_meta(output_dir, meta)
    return path


# Instances fields of FreqRCNN's inference, declared for scripting (Detectron2's list for R-CNNs).
SCRIPTING_FIELDS = {
    "proposal_boxes": Boxes, "objectness_logits": Tensor, "pred_boxes": Boxes, "scores": Tensor,
    "pred_classes": Tensor, "pred_masks": Tensor,
}


def export_scripting(model, mapper: DCTDatasetMapper, output_dir: str,
                     class_names: Optional[Sequence[str]] = None, dump_ir: bool = True) -> str:
    """``torch.jit.script`` the model's :class:`DetectionGraph` (Detectron2's ``scripting_with_instances``)
    and write ``model.ts`` with the export meta inside and beside it; returns its path.

    TorchScript only: as in Detectron2, ONNX is exported from traced graphs."""
    ts = scripting_with_instances(detection_graph(model), SCRIPTING_FIELDS)
    meta = export_meta(model, mapper, class_names)
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, "model.ts")
    torch.jit.save(ts, path, _extra_files={META_KEY: json.dumps(meta)})
    if dump_ir:
        dump_torchscript_IR(ts, output_dir)
    _write_meta(output_dir, meta)
    return path


# ---- running an exported file -------------------------------------------------------------------

class ExportedDetector:
    """An exported ``model.onnx`` (onnxruntime) or ``model.ts`` run like
    :class:`~freqdet.detection.inference.DCTPredictor`: ``detector(image)`` takes an original
    ``(H, W, 3)`` uint8 image in ``input_format``, resizes it as the test mapper did (and computes the
    DCT on the CPU when the graph takes DCT input), runs the graph and returns
    ``{"instances": Instances}`` in original-image pixels: ``pred_boxes``, ``scores``,
    ``pred_classes`` and, for mask models, ``pred_masks`` pasted into the image as bool ``(N, H, W)``
    (Detectron2's ``detector_postprocess``, as the eager model).

    Everything it needs comes from the export meta inside the file (no config).
    ``device``: TorchScript only, where to load the module (default: where it was exported; a traced
    graph keeps the device it was traced on). ``providers``: onnxruntime's execution providers
    (default CPU).
    """

    def __init__(self, path: str, device: Optional[str] = None, providers: Optional[List[str]] = None):
        self.path = path
        self.session = self.module = None  # onnxruntime session or TorchScript module
        if path.endswith(".onnx"):
            import onnxruntime

            self.session = onnxruntime.InferenceSession(path, providers=providers or ["CPUExecutionProvider"])
            meta = self.session.get_modelmeta().custom_metadata_map.get(META_KEY)
        else:
            files = {META_KEY: ""}
            self.module = torch.jit.load(path, map_location=device, _extra_files=files)
            meta = files[META_KEY]
        if not meta:
            raise ValueError(f"{path} holds no freqdet export meta ({META_KEY!r}): export it with "
                             "freqdet.detection.export or tools/export_model.py")
        self.meta = json.loads(meta)
        if self.meta.get("version") != META_VERSION:
            raise ValueError(f"{path}: export meta version {self.meta.get('version')!r}, this freqdet reads "
                             f"{META_VERSION}; export the model again")
        self.device = torch.device("cpu" if self.session is not None else device or self.meta["device"])
        self.mapper = test_mapper(self.meta)
        self.input_format = self.meta["input_format"]
        self.class_names = self.meta["class_names"]

    def inputs(self, image: np.ndarray) -> Dict:
        """The mapper-style input dict of an original image (test resize, DCT unless on-device)."""
        return build_test_input(self.mapper, image)

    def run_graph(self, inputs: Dict) -> Tuple[Tensor, ...]:
        """The graph's raw outputs (``meta["outputs"]``, at the resized size) for one input dict."""
        args = graph_inputs(inputs, self.meta["inputs"])
        if self.session is not None:
            out = self.session.run(self.meta["outputs"], {n: a.numpy() for n, a in zip(self.meta["inputs"], args)})
            return tuple(torch.from_numpy(o) for o in out)
        # optimized_execution(False): no JIT re-profiling and re-specialisation for every new image size
        with torch.no_grad(), torch.jit.optimized_execution(False):
            return tuple(o.cpu() for o in self.module(*(a.to(self.device) for a in args)))

    def predict(self, inputs: Dict) -> Dict[str, Instances]:
        """``{"instances"}`` in original-image pixels for one mapper-style input dict (as a test
        loader with :attr:`mapper` yields: ``image``, ``image_size``, ``height``, ``width``)."""
        fields = {OUTPUT_FIELDS[n]: o for n, o in zip(self.meta["outputs"], self.run_graph(inputs))}
        fields["pred_boxes"] = Boxes(fields["pred_boxes"])
        resized = Instances(tuple(inputs["image_size"]), **fields)
        return {"instances": detector_postprocess(resized, inputs["height"], inputs["width"])}

    def __call__(self, image: np.ndarray) -> Dict[str, Instances]:
        return self.predict(self.inputs(image))
