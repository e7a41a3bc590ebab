"""Hooks and other engine parts."""
import mmpretrain.engine  # noqa: F401  (parent registry entries)
import mmpretrain.visualization  # noqa: F401  (UniversalVisualizer)

from . import hooks  # noqa: F401
