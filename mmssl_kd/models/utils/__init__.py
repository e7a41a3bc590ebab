"""Shared model parts: all-gathers, the feature queue, token matching."""
from .gather import concat_all_gather, gather_with_grad
from .queue import FeatureQueue
from .token_matching import geometric_match, similarity_match, token_centres

__all__ = ['FeatureQueue', 'concat_all_gather', 'gather_with_grad',
           'geometric_match', 'similarity_match', 'token_centres']
