"""Transforms registered in the ``mmssl_kd`` scope."""
from .color_jitter import ColorJitter
from .crop_geometry import MultiViewWithBoxes, RandomResizedCropWithBox

__all__ = ['ColorJitter', 'MultiViewWithBoxes', 'RandomResizedCropWithBox']
