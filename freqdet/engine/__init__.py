"""Inference helpers for frequency-domain models."""
from .predictor import DCTPredictor

__all__ = ["DCTPredictor"]
