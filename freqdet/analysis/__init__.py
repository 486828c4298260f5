"""What a trained DCT model learned: the gate's selection statistics and spectral sensitivity.

Model-agnostic (detectors and classifiers alike); imports :mod:`freqdet.core` and torch only.
"""
