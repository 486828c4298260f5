"""freqdet: Detectron2 detectors and classifiers that learn from block-DCT inputs.

``import freqdet`` registers the DCT backbones and the ``FreqRCNN`` meta-architecture with
Detectron2's registries and the builtin demo dataset names (paths only) with its catalogs, as
Detectron2 projects do: by plain import. Where Detectron2 is not installed that step is skipped,
and :mod:`freqdet.core` (transforms, statistics, gate) and the classifiers' models and transforms
(:mod:`freqdet.classification.models`, :mod:`freqdet.classification.transforms`) still work.

Layers, each importing only the ones before it: ``core`` -> ``analysis`` -> ``engine`` ->
``detection`` / ``classification``; ``synthetic`` makes data; ``model_zoo`` holds the configs.
"""
try:
    import detectron2  # noqa: F401
except ImportError:  # the core and the classifiers' models work without it
    HAS_DETECTRON2 = False
else:
    HAS_DETECTRON2 = True
    from .core.known_warnings import quiet_import_warnings

    with quiet_import_warnings():  # fvcore's import-time torch.jit.script deprecation (FREQDET_SHOW_WARNINGS=1 shows it)
        from . import detection  # noqa: F401  (registers backbones and FreqRCNN)
    from .detection.config import add_freqdet_config  # noqa: F401
    from .synthetic.register import register_demo_datasets

    register_demo_datasets()

__all__ = ["HAS_DETECTRON2", "add_freqdet_config"]
