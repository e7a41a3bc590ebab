"""Necks and projection heads."""
from .dense_projector import DenseProjector
from .dino_head import DINOHead
from .transformer_head import TransformerHead

__all__ = ['DINOHead', 'DenseProjector', 'TransformerHead']
