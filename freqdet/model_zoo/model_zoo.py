"""``get_config_file`` / ``get_config`` over the configs installed with freqdet (no downloads:
freqdet publishes no trained weights, so there is no ``trained=True`` as in Detectron2)."""
from __future__ import annotations

import os
from importlib import resources

_SUFFIXES = (".yaml", ".py")
# Folders of pieces the configs import (common/coco_dct.py), not configs of their own.
_HELPER_DIRS = ("common", "__pycache__")


def _root() -> str:
    return os.fspath(resources.files(__package__) / "configs")


def list_configs() -> list[str]:
    """Every config name, relative to the model zoo (``"Demo/mask_rcnn_dct24_R_50_FPN_demo.yaml"``): the
    yacs and LazyConfig files a tool or ``get_config`` takes, not the ``common/`` helpers they import."""
    root = _root()
    names = []
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in _HELPER_DIRS]
        for f in files:
            if f.endswith(_SUFFIXES) and f != "__init__.py":
                names.append(os.path.relpath(os.path.join(dirpath, f), root).replace(os.sep, "/"))
    return sorted(names)


def get_config_file(config_path: str) -> str:
    """Absolute path of a shipped config, e.g. ``"COCO-InstanceSegmentation/mask_rcnn_dct24_R_50_FPN_1x.yaml"``."""
    path = os.path.join(_root(), config_path)
    if not os.path.isfile(path):
        raise RuntimeError(
            f"{config_path!r} is not in freqdet's model zoo ({_root()}); "
            f"freqdet.model_zoo.list_configs() lists the {len(list_configs())} configs"
        )
    return path


def get_config(config_path: str):
    """The config as Detectron2 would load it.

    ``.yaml``: :func:`freqdet.detection.config.load_config` (Detectron2's ``get_cfg()`` with freqdet's
    keys, the file merged: a ``CfgNode``); ``.py``: ``LazyConfig.load`` (a ``DictConfig`` for ``instantiate``).
    Relative paths inside (``MODEL.PIXEL_STATS_FILE``, ``MODEL.WEIGHTS``) resolve against the
    working directory, as in Detectron2's own configs.
    """
    path = get_config_file(config_path)
    if path.endswith(".py"):
        from detectron2.config import LazyConfig

        return LazyConfig.load(path)
    from freqdet.detection.config import load_config

    return load_config(path)
