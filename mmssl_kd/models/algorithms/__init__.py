"""Self-supervised distillation algorithms."""
from .dogo import DoGo
from .sdssl import SDSSL
from .seed import SEED

__all__ = ['DoGo', 'SDSSL', 'SEED']
