"""DCT data pipeline (dataset mapper, per-channel statistics) and the embedded demo data.

Importing registers the builtin demo names (``freqdet_demo_train``/``_val``) at
``$FREQDET_DATASETS/demo`` or ``<repo>/datasets/demo``; only paths are recorded, nothing
is read or generated until ``DatasetCatalog.get`` (``datasets/prepare_demo.py`` makes the data).
"""
from .dataset_mapper import DCTDatasetMapper, dct_dtype
from .demo import generate_demo_dataset, register_demo_datasets
from .stats import RunningMoments, compute_dct_stats, ensure_dct_stats, load_dct_stats, save_dct_stats

register_demo_datasets()

__all__ = [
    "DCTDatasetMapper", "RunningMoments", "compute_dct_stats", "dct_dtype", "ensure_dct_stats",
    "generate_demo_dataset", "load_dct_stats", "register_demo_datasets", "save_dct_stats",
]
