"""Necks and projection heads."""
from .dino_head import DINOHead
from .transformer_head import TransformerHead

__all__ = ['DINOHead', 'TransformerHead']
