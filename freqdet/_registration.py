"""Register freqdet with Detectron2 as soon as both are imported, in either order.

``import freqdet`` must register ``FreqRCNN``, the DCT backbones and the demo datasets, yet
``import freqdet.dct`` (which runs ``freqdet/__init__.py`` too) must not pull in Detectron2 and
torch. So registration imports :mod:`freqdet.data` and :mod:`freqdet.modeling` right away when
Detectron2 is already imported, and otherwise the moment the ``detectron2`` package finishes
importing (a one-shot import hook on ``sys.meta_path``). Either way, every Detectron2 registry
lookup made after ``import freqdet`` sees freqdet's entries.
"""
from __future__ import annotations

import importlib
import importlib.abc
import sys

_WATCHED = "detectron2"
_state = {"done": False, "running": False}


def register() -> None:
    """Import the modules whose decorators fill Detectron2's registries (idempotent)."""
    if _state["done"] or _state["running"]:
        return
    _state["running"] = True
    try:
        importlib.import_module("freqdet.data")  # DatasetCatalog: freqdet_demo_train/_val
        importlib.import_module("freqdet.modeling")  # META_ARCH / BACKBONE registries
        _state["done"] = True
    finally:
        _state["running"] = False


class _RegisterAfterDetectron2(importlib.abc.MetaPathFinder):
    """Finds ``detectron2`` with the other finders and runs :func:`register` after it executes."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != _WATCHED:
            return None
        sys.meta_path.remove(self)  # one shot; also keeps the lookup below from recursing
        spec = next((s for s in (f.find_spec(fullname, path, target) for f in sys.meta_path
                                 if hasattr(f, "find_spec")) if s is not None), None)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            register()

        spec.loader.exec_module = exec_then_register
        return spec


def register_with_detectron2() -> None:
    """Register now if Detectron2 is imported, else right after it is (no import of it here)."""
    if _WATCHED in sys.modules:
        register()
    elif not any(isinstance(f, _RegisterAfterDetectron2) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterDetectron2())
