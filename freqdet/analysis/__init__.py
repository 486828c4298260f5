"""What the frequency channels carry: the energy of images per channel (:mod:`.energy`), the
gate's selection statistics (:mod:`.gate_statistics`) and a trained model's spectral sensitivity
(:mod:`.sensitivity`).

Model-agnostic (detectors and classifiers alike); imports :mod:`freqdet.core` and torch only.
"""
