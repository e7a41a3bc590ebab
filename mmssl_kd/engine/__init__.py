"""Hooks and other engine parts."""
import mmpretrain.engine  # noqa: F401  (parent registry entries)

from . import hooks  # noqa: F401
