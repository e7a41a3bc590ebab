"""mmssl_kd: self-supervised knowledge distillation on MMEngine + MMPretrain.

Importing the package installs the compatibility layer (safe checkpoint
loading, see :mod:`mmssl_kd.compat`) and the ``mmssl_kd`` registry scope, so
every entry point that imports it gets both.
"""
from . import compat  # noqa: F401  (installs the safe checkpoint loader)
from . import registry  # noqa: F401  (creates the 'mmssl_kd' scope)
from .version import __version__

__all__ = ['__version__']
