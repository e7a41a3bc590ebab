"""Training hooks."""
from .freeze_last_layer_hook import FreezeLastLayerHook
from .knn_hook import KNNHook

__all__ = ['FreezeLastLayerHook', 'KNNHook']
