"""Datasets and transforms."""
import mmpretrain.datasets  # noqa: F401  (parent registry entries)

from . import transforms  # noqa: F401
from .image_folder import ImageFolder, balanced_subset

__all__ = ['ImageFolder', 'balanced_subset']
