"""freqdet: Detectron2 detectors and classifiers that learn from block-DCT inputs."""
from . import data  # noqa: F401  registers the builtin demo dataset names (paths only)
