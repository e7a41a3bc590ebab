"""Heads: MMPretrain's, with fp32 logits under mixed precision."""
from .mocov3_head import MoCoV3Head

__all__ = ['MoCoV3Head']
