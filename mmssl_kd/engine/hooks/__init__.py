"""Training hooks."""
from .knn_hook import KNNHook

__all__ = ['KNNHook']
