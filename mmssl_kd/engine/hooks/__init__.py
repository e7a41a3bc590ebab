"""Training hooks."""
from .checkpoint_hook import CheckpointHook, find_resumable_checkpoint
from .collapse_monitor_hook import CollapseMonitorHook
from .freeze_last_layer_hook import FreezeLastLayerHook
from .knn_hook import KNNHook

__all__ = ['CheckpointHook', 'CollapseMonitorHook', 'FreezeLastLayerHook',
           'KNNHook', 'find_resumable_checkpoint']
