"""mmssl_kd: self-supervised knowledge distillation on MMEngine + MMPretrain.

Importing the package installs the compatibility layer (safe checkpoint
loading, see :mod:`mmssl_kd.compat`) and the ``mmssl_kd`` registry scope, so
every entry point that imports it gets both.
"""
import warnings

# Warnings of the stack that say nothing about a run, printed by every tool
# (even --help) and by every data worker: mmcv-lite has no compiled ops by
# design (README, "Installation"); mmcv's pillow colour jitter ignores its
# unused `beta`; pinned memory needs a GPU and is simply not used on a CPU.
for _message in ('Fail to import ``MultiScaleDeformableAttention``',
                 "Only use 'alpha' for pillow backend",
                 "'pin_memory' argument is set as true but no accelerator"):
    warnings.filterwarnings('ignore', message=_message, category=UserWarning)

from . import (  # noqa: E402
    compat,  # noqa: F401  (installs the safe checkpoint loader)
    registry,  # noqa: F401  (creates the 'mmssl_kd' scope)
)
from .version import __version__  # noqa: E402

__all__ = ['__version__']
