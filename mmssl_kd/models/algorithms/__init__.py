"""Self-supervised distillation algorithms."""
from .dogo import DoGo
from .seed import SEED

__all__ = ['DoGo', 'SEED']
