"""Detectron2's checkpointer with weights-only file reads (:mod:`freqdet.core.safe_load`)."""
from __future__ import annotations

from detectron2.checkpoint import DetectionCheckpointer

from freqdet.core.safe_load import safe_pickle_load, safe_torch_load


class SafeCheckpointer(DetectionCheckpointer):
    """Detectron2's :class:`DetectionCheckpointer` whose file reads are :func:`safe_torch_load` /
    :func:`safe_pickle_load`; its format handling (model zoo, Caffe2 blobs, pycls) is unchanged."""

    def _load_file(self, filename: str):
        if filename.endswith(".pkl"):
            data = safe_pickle_load(filename)
            if not isinstance(data, dict):
                raise ValueError(f"{filename}: expected a dict of weights, got {type(data).__name__}")
            if "model" in data and "__author__" in data:
                self.logger.info("Reading a file from '{}'".format(data["__author__"]))
                return data
            if "blobs" in data:  # Caffe2 / Detectron1 detection models
                data = data["blobs"]
            data = {k: v for k, v in data.items() if not k.endswith("_momentum")}
            return {"model": data, "__author__": "Caffe2", "matching_heuristics": True}
        if filename.endswith(".pyth"):
            data = safe_torch_load(filename)
            if "model_state" not in data:
                raise ValueError(f"{filename}: pycls checkpoints must contain 'model_state'")
            state = {k: v for k, v in data["model_state"].items() if not k.endswith("num_batches_tracked")}
            return {"model": state, "__author__": "pycls", "matching_heuristics": True}
        return super()._load_file(filename)

    def _torch_load(self, f: str):
        return safe_torch_load(f)
