"""Shared model parts: all-gathers and the feature queue."""
from .gather import concat_all_gather, gather_with_grad
from .queue import FeatureQueue

__all__ = ['FeatureQueue', 'concat_all_gather', 'gather_with_grad']
