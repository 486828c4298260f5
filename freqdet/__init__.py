"""freqdet: Detectron2 detectors and classifiers that learn from block-DCT inputs."""
