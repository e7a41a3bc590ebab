"""Shared model parts: all-gathers, the feature queue, the EMA teacher,
the multi-crop forward, token matching."""
from .ema import CosineEMA
from .gather import concat_all_gather, gather_with_grad
from .multi_crop import multi_crop_forward
from .queue import FeatureQueue
from .token_matching import geometric_match, similarity_match, token_centres

__all__ = ['CosineEMA', 'FeatureQueue', 'concat_all_gather', 'gather_with_grad',
           'geometric_match', 'multi_crop_forward', 'similarity_match',
           'token_centres']
