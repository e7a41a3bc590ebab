"""Transforms registered in the ``mmssl_kd`` scope."""
from .color_jitter import ColorJitter
from .crop_geometry import MultiViewWithBoxes, RandomResizedCropWithBox
from .loading import LoadImageFromFile

__all__ = ['ColorJitter', 'LoadImageFromFile', 'MultiViewWithBoxes',
           'RandomResizedCropWithBox']
