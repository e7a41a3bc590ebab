"""Models: the parent package registers MMPretrain's models first."""
import mmpretrain.models  # noqa: F401  (parent registry entries)

from . import algorithms, backbones, data_preprocessors, heads, losses, necks  # noqa: F401
from .teachers import FrozenTeacher
from .wrappers import DistillerDataParallel

__all__ = ['DistillerDataParallel', 'FrozenTeacher']
