"""freqdet's configs shipped inside the package, looked up like ``detectron2.model_zoo``.

The top-level ``configs/`` of a checkout is a symlink to ``freqdet/model_zoo/configs``: one
set of files, so ``pip install freqdet`` carries the same configs a checkout uses.
"""
from .model_zoo import get_config, get_config_file, list_configs

__all__ = ["get_config", "get_config_file", "list_configs"]
