"""Hooks, optimizer constructors and other engine parts."""
import mmpretrain.engine  # noqa: F401  (parent registry entries)
import mmpretrain.visualization  # noqa: F401  (UniversalVisualizer)

from . import hooks  # noqa: F401
from .optim_wrappers import AmpOptimWrapper, OptimWrapper
from .optimizers import PartsOptimWrapperConstructor

__all__ = ['AmpOptimWrapper', 'OptimWrapper', 'PartsOptimWrapperConstructor']
