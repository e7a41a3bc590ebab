"""Shared model parts: all-gathers, the feature queue, the multi-crop
forward, token matching."""
from .gather import concat_all_gather, gather_with_grad
from .multi_crop import multi_crop_forward
from .queue import FeatureQueue
from .token_matching import geometric_match, similarity_match, token_centres

__all__ = ['FeatureQueue', 'concat_all_gather', 'gather_with_grad',
           'geometric_match', 'multi_crop_forward', 'similarity_match',
           'token_centres']
