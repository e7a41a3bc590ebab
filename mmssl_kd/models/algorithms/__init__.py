"""Self-supervised distillation algorithms."""
from .seed import SEED

__all__ = ['SEED']
