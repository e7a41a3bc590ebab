"""Hooks, optimizer constructors, the Runner and other engine parts."""
import mmpretrain.engine  # noqa: F401  (parent registry entries)
import mmpretrain.visualization  # noqa: F401  (UniversalVisualizer)

from . import hooks  # noqa: F401
from .loops import EpochBasedTrainLoop
from .optim_wrappers import AmpOptimWrapper, BF16OptimWrapper, OptimWrapper
from .optimizers import PartsOptimWrapperConstructor
from .runner import Runner
from .schedulers import OffsetCosineAnnealingLR
from .speed import speed_up

__all__ = ['AmpOptimWrapper', 'BF16OptimWrapper', 'EpochBasedTrainLoop',
           'OffsetCosineAnnealingLR', 'OptimWrapper',
           'PartsOptimWrapperConstructor', 'Runner',
           'speed_up']
