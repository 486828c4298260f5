"""Export FreqRCNN for deployment with Detectron2's own machinery (``detectron2.export``).

Formats: tracing -> TorchScript or ONNX (TorchScript-based ``torch.onnx.export``, opset 17;
runs in onnxruntime); scripting -> TorchScript only (as in Detectron2: ONNX takes traced graphs).
Tracing goes through :class:`~detectron2.export.TracingAdapter` exactly as Detectron2's
``tools/deploy/export_model.py`` does for GeneralizedRCNN: ``inference(do_postprocess=False)``
(boxes/masks at the network's input size; :func:`postprocess` rescales to the original image),
flattened into tensors for TorchScript or ONNX. With ``INPUT.DCT.ON_DEVICE`` the exported graph
contains the DCT and takes the resized uint8 ``(3, H, W)`` image like an RGB model; without, it
takes the DCT tensor and the pixel size ``(h, w)`` (an int64 tensor).
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from detectron2.export import TracingAdapter, dump_torchscript_IR, scripting_with_instances
from detectron2.export.flatten import flatten_to_tuple
from detectron2.modeling.postprocessing import detector_postprocess
from detectron2.structures import Boxes, Instances
from torch import Tensor, nn

from .inference import build_test_input
from .mapper import DCTDatasetMapper

__all__ = ["ScriptableAdapter", "export_inputs", "export_scripting", "export_tracing", "flat_inputs",
           "graph_inputs", "postprocess", "scripted_instances", "tracing_adapter"]

ONNX_OPSET = 17  # torchvision's roi_align(aligned=True) needs >= 16


def export_inputs(cfg, image: np.ndarray) -> List[Dict]:
    """``[input dict]`` for an image in ``INPUT.FORMAT``, as the test DCTDatasetMapper of ``cfg`` makes
    it (:func:`~freqdet.detection.inference.build_test_input`)."""
    return [build_test_input(DCTDatasetMapper(cfg, is_train=False), image)]


def graph_inputs(model, inputs) -> List[Dict[str, Tensor]]:
    """What an exported graph takes from mapper-style inputs: ``{"image"}`` with on-device DCT (the
    image is its own size), else ``{"image", "image_size"}`` (int64 ``(h, w)``: the DCT grid
    alone does not give the pixel size)."""
    out = []
    for x in inputs:
        g = {"image": x["image"]}
        if model.input_dct is None:
            g["image_size"] = torch.as_tensor(x["image_size"], dtype=torch.int64)
        out.append(g)
    return out


def flat_inputs(model, inputs) -> tuple:
    """The positional tensors a traced graph (TorchScript or ONNX) takes for ``inputs[0]``."""
    return flatten_to_tuple(graph_inputs(model, inputs[:1]))[0]


def _inference(model, inputs):
    return [{"instances": model.inference(inputs, do_postprocess=False)[0]}]


def tracing_adapter(model, inputs) -> TracingAdapter:
    """Detectron2's TracingAdapter over ``model.inference(..., do_postprocess=False)`` for one image."""
    return TracingAdapter(model, graph_inputs(model, inputs[:1]), _inference).eval()


def export_tracing(model, inputs, fmt: str, output_dir: str, dump_ir: bool = True) -> TracingAdapter:
    """Trace ``model`` on ``inputs`` and write ``model.ts`` (+ IR dumps unless ``dump_ir=False``)
    or ``model.onnx`` to ``output_dir``.

    Returns the adapter, whose ``outputs_schema`` turns the exported graph's flat outputs back
    into ``[{"instances": Instances}]``.
    """
    adapter = tracing_adapter(model, inputs)
    os.makedirs(output_dir, exist_ok=True)
    with torch.no_grad():
        if fmt == "torchscript":
            ts = torch.jit.trace(adapter, adapter.flattened_inputs)
            ts.save(os.path.join(output_dir, "model.ts"))
            if dump_ir:
                dump_torchscript_IR(ts, output_dir)
        elif fmt == "onnx":
            # TorchScript-based exporter (dynamo=False): it takes the traced graph of the
            # TracingAdapter; image height and width stay free (dynamic axes).
            names = ["image", "image_size"][: len(adapter.flattened_inputs)]
            torch.onnx.export(adapter, adapter.flattened_inputs, os.path.join(output_dir, "model.onnx"),
                              input_names=names, dynamic_axes={"image": {1: "height", 2: "width"}},
                              opset_version=ONNX_OPSET, dynamo=False)
        else:
            raise ValueError(f"format must be 'torchscript' or 'onnx' for tracing, got {fmt!r}")
    return adapter


def postprocess(adapter: Optional[TracingAdapter], outputs, inputs) -> List[Dict]:
    """Outputs of an exported graph for ``inputs`` (one image) -> Detectron2's ``[{"instances": ...}]``
    in original-image pixels (the final resize that ``do_postprocess=False`` leaves out of the graph).

    ``adapter``: the :class:`TracingAdapter` of a traced graph, whose flat ``outputs`` it reads back;
    None for a scripted graph (:func:`export_scripting`), whose ``outputs`` are one dict of tensors per image.
    """
    x = inputs[0]
    if adapter is None:
        instances = scripted_instances(outputs[0], x["image_size"])
    else:
        instances = adapter.outputs_schema(outputs)[0]["instances"]
    return [{"instances": detector_postprocess(instances, x["height"], x["width"])}]


# Instances fields of FreqRCNN's inference, declared for scripting (Detectron2's list for R-CNNs).
SCRIPTING_FIELDS = {
    "proposal_boxes": Boxes, "objectness_logits": Tensor, "pred_boxes": Boxes, "scores": Tensor,
    "pred_classes": Tensor, "pred_masks": Tensor,
}


class ScriptableAdapter(nn.Module):
    """``inference(do_postprocess=False)`` returning dicts of tensors, not Instances (as Detectron2's
    export_model.py, working around pytorch/pytorch#46944)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.eval()

    def forward(self, inputs: Tuple[Dict[str, Tensor]]) -> List[Dict[str, Tensor]]:
        instances = self.model.inference(inputs, do_postprocess=False)
        return [i.get_fields() for i in instances]


def export_scripting(model, output_dir: str, dump_ir: bool = True):
    """``torch.jit.script`` the model (Detectron2's ``scripting_with_instances``); writes ``model.ts``.

    The scripted module takes a tuple of dicts: ``{"image": uint8 (3, H, W)}`` with on-device DCT,
    else ``{"image": DCT tensor, "image_size": int64 (h, w)}``; it returns one dict of tensors per image.
    """
    ts = scripting_with_instances(ScriptableAdapter(model), SCRIPTING_FIELDS)
    os.makedirs(output_dir, exist_ok=True)
    ts.save(os.path.join(output_dir, "model.ts"))
    if dump_ir:
        dump_torchscript_IR(ts, output_dir)
    return ts


def scripted_instances(fields: Dict[str, Tensor], image_size) -> Instances:
    """One output dict of a scripted model as Detectron2 ``Instances`` of ``image_size`` (the
    input's pixel size; :func:`detector_postprocess` then rescales to the original image)."""
    inst = Instances(tuple(int(v) for v in image_size))
    for k, v in fields.items():
        inst.set(k, Boxes(v) if k in ("pred_boxes", "proposal_boxes") else v)
    return inst
