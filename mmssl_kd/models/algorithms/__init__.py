"""Self-supervised distillation algorithms on one base
(:class:`Distiller`), and MMPretrain's two-view baselines with the
project's view check."""
from .base import Distiller, Net, OptimPart, Parts, declared_nets
from .baselines import BYOL, MoCoV3, SimCLR
from .dense import DenseDistill
from .dino import DINO
from .dogo import DoGo
from .glsd import GLSD, GlobalLocalNet, GlobalLocalOut
from .mokd import MOKD, MOKDNet, MOKDOut
from .sdssl import SDSSL
from .seed import SEED

__all__ = ['BYOL', 'DINO', 'DenseDistill', 'Distiller', 'DoGo', 'GLSD',
           'GlobalLocalNet', 'GlobalLocalOut', 'MOKD', 'MOKDNet', 'MOKDOut',
           'MoCoV3', 'Net', 'OptimPart', 'Parts', 'SDSSL', 'SEED', 'SimCLR',
           'declared_nets']
