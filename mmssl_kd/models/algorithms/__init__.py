"""Self-supervised distillation algorithms, and MMPretrain's two-view
baselines with the project's view check."""
from .baselines import BYOL, MoCoV3, SimCLR
from .dino import DINO
from .dogo import DoGo
from .glsd import GLSD, GlobalLocalNet, global_and_tokens
from .mokd import MOKD, MOKDNet
from .sdssl import SDSSL
from .seed import SEED

__all__ = ['BYOL', 'DINO', 'DoGo', 'GLSD', 'GlobalLocalNet', 'MOKD',
           'MOKDNet', 'MoCoV3', 'SDSSL', 'SEED', 'SimCLR',
           'global_and_tokens']
