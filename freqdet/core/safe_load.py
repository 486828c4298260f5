"""Load checkpoints and ``.pkl`` weights without running code that the file brings along.

``pickle.load`` calls whatever callables a file names, so a downloaded ``model.pkl`` can run
``os.system``. Every weight file freqdet reads goes through here instead:

- ``.pth`` / ``.pyth`` (torch): ``torch.load(weights_only=True)``, PyTorch's own restricted
  unpickler (tensors, containers, numbers, strings).
- ``.pkl`` (Detectron2 model zoo, Caffe2/Detectron1 ``blobs``, our converter's output): a
  restricted unpickler that only rebuilds containers and NumPy arrays/scalars/dtypes.

A file that needs anything else is refused with an error naming it and the global it asked for.
"""
from __future__ import annotations

import pickle
from typing import Any, BinaryIO

import torch

__all__ = ["SAFE_PICKLE_GLOBALS", "UnsafeCheckpointError", "safe_pickle_load", "safe_torch_load"]

# (module, name) a weight pickle may name: what NumPy arrays of any version pickle to, plus
# plain containers. None of them can run code chosen by the file.
SAFE_PICKLE_GLOBALS = frozenset({
    *((m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray") for n in ("_reconstruct", "scalar")),
    *((m, "_frombuffer") for m in ("numpy.core.numeric", "numpy._core.numeric")),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("collections", "OrderedDict"), ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "complex"),
    ("_codecs", "encode"),  # protocol-2 pickles of bytes (Python 3 writing for Python 2)
})


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A weight file asked to unpickle something that is not weights."""


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: BinaryIO, source: str, **kwargs):
        super().__init__(file, **kwargs)
        self.source = source

    def find_class(self, module: str, name: str):
        if (module, name) in SAFE_PICKLE_GLOBALS:
            return super().find_class(module, name)
        raise UnsafeCheckpointError(
            f"{self.source}: refusing to unpickle {module}.{name} (a weight file holds only arrays and "
            "containers; this one would run code). If you trust the file, convert it to a plain dict of arrays."
        )


def safe_pickle_load(path: str, encoding: str = "latin1") -> Any:
    """``pickle.load`` of ``path`` restricted to NumPy arrays and containers (latin1: Caffe2's py2 pickles)."""
    with open(path, "rb") as f:
        return _RestrictedUnpickler(f, path, encoding=encoding).load()


def safe_torch_load(path: str) -> Any:
    """``torch.load(path, weights_only=True)`` on CPU; a file holding other objects is refused, naming it."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise UnsafeCheckpointError(
            f"{path}: not a weights-only checkpoint, refusing to unpickle it ({str(e).splitlines()[0]}). "
            "If you trust the file, re-save its tensors: torch.save(torch.load(p, weights_only=False)['model'], q)"
        ) from None
