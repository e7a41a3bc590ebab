"""Self-supervised distillation algorithms."""
from .dino import DINO
from .dogo import DoGo
from .sdssl import SDSSL
from .seed import SEED

__all__ = ['DINO', 'DoGo', 'SDSSL', 'SEED']
