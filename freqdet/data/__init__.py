"""Datasets for frequency-domain training: the embedded demo data and its registration.

Importing registers the builtin demo names (``freqdet_demo_train``/``_val``) at
``$FREQDET_DATASETS/demo`` or ``<repo>/datasets/demo``; only paths are recorded, nothing
is read or generated until ``DatasetCatalog.get`` (``datasets/prepare_demo.py`` makes the data).
"""
from .demo import generate_demo_dataset, register_demo_datasets

register_demo_datasets()
