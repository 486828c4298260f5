"""Detectron2's checkpointer with weights-only file reads (:mod:`freqdet.core.safe_load`) that refuses
weights whose shapes do not fit the model unless a partial load is asked for."""
from __future__ import annotations

import contextlib
import logging
import re

from detectron2.checkpoint import DetectionCheckpointer

from freqdet.core.safe_load import safe_pickle_load, safe_torch_load

__all__ = ["SafeCheckpointer", "WeightsShapeError"]

# How Detectron2's name-matching heuristics (.pkl / .pyth files) report a tensor they drop for its shape.
_HEURISTIC_SKIP = re.compile(r"Shape of (\S+) in checkpoint is (.+), while shape of (\S+) in model is (.+)\.$")
_HEURISTICS_LOGGER = "detectron2.checkpoint.c2_model_loading"
PARTIAL_HINT = ("set MODEL.WEIGHTS_PARTIAL True (LazyConfig: train.init_checkpoint_partial=True; "
                "Python: SafeCheckpointer(model, allow_partial=True))")


class WeightsShapeError(ValueError):
    """Tensors of a weights file whose shapes differ from the model's. ``mismatched``: a list of
    ``(key, shape in the file, shape in the model)``."""

    def __init__(self, filename: str, mismatched: list):
        self.filename, self.mismatched = filename, mismatched
        lines = [f"  {k}: {tuple(c)} in the file, {tuple(m)} in the model" for k, c, m in mismatched[:20]]
        if len(mismatched) > 20:
            lines.append(f"  ... and {len(mismatched) - 20} more")
        super().__init__(
            f"{filename}: {len(mismatched)} tensors do not fit the model (another class count, norm, channel "
            "subset or architecture):\n" + "\n".join(lines) + "\nThe model would run with these left at their "
            f"initial values. To load the other tensors anyway (e.g. fine-tuning to new classes), {PARTIAL_HINT}."
        )


class _CollectHeuristicSkips(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.skipped = []

    def emit(self, record):
        m = _HEURISTIC_SKIP.match(record.getMessage())
        if m:
            self.skipped.append((m.group(3), _shape(m.group(2)), _shape(m.group(4))))


def _shape(text: str) -> tuple:
    """``torch.Size([64, 3, 7, 7])`` as logged -> ``(64, 3, 7, 7)``."""
    return tuple(int(x) for x in re.findall(r"\d+", text.replace("torch.Size", "")))


@contextlib.contextmanager
def _heuristic_skips():
    """The tensors Detectron2's matching heuristics drop for their shape while the block runs (it only
    logs them), as ``(model key, shape in the file, shape in the model)``."""
    logger = logging.getLogger(_HEURISTICS_LOGGER)
    handler, level = _CollectHeuristicSkips(), logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.WARNING:
        logger.setLevel(logging.WARNING)  # the records must exist to be collected
    try:
        yield handler.skipped
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


class SafeCheckpointer(DetectionCheckpointer):
    """Detectron2's :class:`DetectionCheckpointer` whose file reads are :func:`safe_torch_load` /
    :func:`safe_pickle_load`; its format handling (model zoo, Caffe2 blobs, pycls) is unchanged.

    Loading weights whose tensors have other shapes than the model's raises :class:`WeightsShapeError`
    naming them, where Detectron2 logs "Skip loading parameter" and returns a partly initialised model.
    ``allow_partial=True`` (``MODEL.WEIGHTS_PARTIAL``) keeps Detectron2's behaviour, for fine-tuning to
    new classes. Missing and unexpected keys are not errors either way (a converted backbone has no heads).
    """

    def __init__(self, model, save_dir: str = "", *, allow_partial: bool = False, **kwargs):
        super().__init__(model, save_dir, **kwargs)
        self.allow_partial = allow_partial
        self._loading = None

    def load(self, path, *args, **kwargs):
        self._loading = path
        try:
            return super().load(path, *args, **kwargs)
        finally:
            self._loading = None

    def _load_model(self, checkpoint):
        with _heuristic_skips() as skipped:
            incompatible = super()._load_model(checkpoint)
        mismatched = [*incompatible.incorrect_shapes, *skipped]
        if mismatched and not self.allow_partial:
            raise WeightsShapeError(str(self._loading), mismatched)
        return incompatible

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
