"""Self-supervised distillation algorithms."""
from .dino import DINO
from .dogo import DoGo
from .glsd import GLSD, GlobalLocalNet, global_and_tokens
from .mokd import MOKD, MOKDNet
from .sdssl import SDSSL
from .seed import SEED

__all__ = ['DINO', 'DoGo', 'GLSD', 'GlobalLocalNet', 'MOKD', 'MOKDNet',
           'SDSSL', 'SEED', 'global_and_tokens']
