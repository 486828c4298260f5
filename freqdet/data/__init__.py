"""DCT data pipeline: dataset mapper, per-channel statistics."""
from .dataset_mapper import DCTDatasetMapper, dct_dtype
from .stats import RunningMoments, load_dct_stats, save_dct_stats

__all__ = ["DCTDatasetMapper", "RunningMoments", "dct_dtype", "load_dct_stats", "save_dct_stats"]
