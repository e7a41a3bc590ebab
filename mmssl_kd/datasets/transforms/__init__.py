"""Transforms registered in the ``mmssl_kd`` scope."""
from .color_jitter import ColorJitter

__all__ = ['ColorJitter']
