"""Shared model parts: all-gathers, the feature queue, the EMA teacher,
the multi-crop forward, token matching, backbone outputs as vectors and
tokens, and the module helpers (unwrapping, paired initialisation)."""
from .ema import CosineEMA, ema_teacher
from .features import global_and_tokens, to_vector
from .gather import concat_all_gather, gather_with_grad
from .modules import averaged, bare, build, paired_init
from .multi_crop import multi_crop_forward
from .queue import FeatureQueue
from .token_matching import geometric_match, similarity_match, token_centres

__all__ = ['CosineEMA', 'FeatureQueue', 'averaged', 'bare', 'build',
           'concat_all_gather', 'ema_teacher', 'gather_with_grad',
           'geometric_match', 'global_and_tokens', 'multi_crop_forward',
           'paired_init', 'similarity_match', 'to_vector',
           'token_centres']
