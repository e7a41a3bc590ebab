"""An optimizer per part of a model (DoGo's two peers, MOKD's two nets)."""
import logging
from typing import Dict, Optional

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapperDict

from ..models.teachers import DefaultOptimWrapperConstructor
from ..registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class PartsOptimWrapperConstructor:
    """Builds an ``OptimWrapperDict`` with one wrapper per part of the model.

    The model names its parts in ``optim_parts``: optimizer key -> name of
    a child module, or ``None`` for every child not named by another key.
    DoGo's is ``{'model1': None, 'model2': 'peer'}``: the first peer is
    ``backbone`` + ``neck`` (+ ``predictor``), the second is ``peer``.

    The config gives each key its wrapper config; the other top-level keys
    (``type``, ``loss_scale``, ``clip_grad``, ...) are defaults for every
    part, so ``tools/train.py --amp`` applies to all of them.  A part
    config (a dict with an ``optimizer``) of a part the model does not have
    is left out with a warning: a single-model baseline can inherit the
    two-peer schedule::

        optim_wrapper = dict(
            constructor='PartsOptimWrapperConstructor',
            model1=dict(optimizer=dict(type='Adam', lr=3e-4)),
            model2=dict(optimizer=dict(type='Adam', lr=3e-4),
                        paramwise_cfg=dict(norm_decay_mult=0.)))

    Each part is built by the scope's :class:`DefaultOptimWrapperConstructor`
    (frozen teachers excluded, a part's own ``paramwise_cfg`` honoured, its
    groups merged unless ``merge_param_groups=False`` at the top level or in
    the part's config); parameter names in ``paramwise_cfg`` are relative to
    the part for a named child and full names for the ``None`` part.
    """

    def __init__(self, optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None):
        if paramwise_cfg is not None:
            raise ValueError(
                'PartsOptimWrapperConstructor: give paramwise_cfg inside '
                'each part\'s config (optim_wrapper.<key>.paramwise_cfg), '
                'not at the top level.')
        self.optim_wrapper_cfg = dict(optim_wrapper_cfg)

    def _parts(self, module: nn.Module) -> Dict[str, Optional[str]]:
        parts = getattr(module, 'optim_parts', None)
        if not isinstance(parts, dict):
            raise TypeError(
                f'{type(module).__name__} has no `optim_parts` dict, so '
                'PartsOptimWrapperConstructor cannot split it; use the '
                'default constructor (drop `constructor` from optim_wrapper).')
        missing = [key for key in parts if key not in self.optim_wrapper_cfg]
        if missing:
            raise KeyError(
                f'optim_wrapper has no config for {missing}: '
                f'{type(module).__name__} trains the parts {list(parts)}, '
                'each needs optim_wrapper.<key> = dict(optimizer=...).')
        return parts

    def __call__(self, model: nn.Module) -> OptimWrapperDict:
        module = model.module if is_model_wrapper(model) else model
        parts = self._parts(module)
        defaults = {}
        for key, value in self.optim_wrapper_cfg.items():
            if key in parts:
                continue
            if isinstance(value, dict) and 'optimizer' in value:
                print_log(
                    f'optim_wrapper.{key} is left out: '
                    f'{type(module).__name__} has no part {key!r} '
                    f'(its parts: {list(parts)}).', logger='current',
                    level=logging.WARNING)
            else:
                defaults[key] = value
        named = {child for child in parts.values() if child is not None}
        wrappers = {}
        for key, child in parts.items():
            if child is None:
                sub = nn.ModuleDict({
                    name: m for name, m in module.named_children()
                    if name not in named})
            else:
                sub = getattr(module, child)
            cfg = dict(defaults, **self.optim_wrapper_cfg[key])
            paramwise_cfg = cfg.pop('paramwise_cfg', None)
            wrappers[key] = DefaultOptimWrapperConstructor(
                cfg, paramwise_cfg)(sub)
        return OptimWrapperDict(**wrappers)
