"""Optimizer constructors and optimizers: the scope's default constructor
(frozen teachers left out), an optimizer per part of a model (DoGo's two
peers, MOKD's two nets), and LARS without host syncs.

**How a teacher stays out of the optimizer.**  A
:class:`~mmssl_kd.models.teachers.FrozenTeacher` keeps its weights as
``nn.Parameter`` with ``requires_grad=False``.  MMEngine 0.10.7's
``DefaultOptimWrapperConstructor`` would still put them in the optimizer:
without ``paramwise_cfg`` it hands over ``model.parameters()``, with one it
skips them but logs a warning per tensor.  This module therefore registers
its own :class:`DefaultOptimWrapperConstructor` in the ``mmssl_kd`` scope.
Being found first under ``default_scope = 'mmssl_kd'``, it is the default
of every project config, with nothing to write in the config.  It builds
exactly what MMEngine's does, except that it leaves out the parameters of
every ``FrozenTeacher`` in the model and merges parameter groups
(:mod:`mmssl_kd.param_groups`).  Without a ``paramwise_cfg``, models
without a ``FrozenTeacher`` get MMEngine's optimizer unchanged.
``'mmengine.DefaultOptimWrapperConstructor'`` names the original.  A config
that picks another ``constructor`` must leave the teacher out itself.
"""
import logging
from typing import Dict, List, Optional

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.optim import DefaultOptimWrapperConstructor as _MMEngineCtor
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmengine.registry import OPTIM_WRAPPERS as ROOT_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as ROOT_OPTIMIZERS
from mmpretrain.engine.optimizers import LARS as _MMPretrainLARS

from ..models.teachers import FrozenTeacher
from ..param_groups import merge_param_groups, track_origins
from ..registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIMIZERS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class DefaultOptimWrapperConstructor(_MMEngineCtor):
    """MMEngine's default constructor, minus the parameters of every
    :class:`FrozenTeacher` in the model, with one group per distinct
    setting (see the module docstring).

    Args:
        optim_wrapper_cfg: MMEngine's, plus ``merge_param_groups`` (bool,
            default True): merge the groups ``paramwise_cfg`` makes, one
            per parameter, into one per setting.  The optimizer then keeps
            ``param_group_origins``: for each group, the positions of its
            parameters in MMEngine's layout.
        paramwise_cfg: MMEngine's.
    """

    def __init__(self, optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None):
        optim_wrapper_cfg = dict(optim_wrapper_cfg)
        self.merge_param_groups = optim_wrapper_cfg.pop('merge_param_groups',
                                                        True)
        if not isinstance(self.merge_param_groups, bool):
            raise TypeError('optim_wrapper.merge_param_groups must be a bool, '
                            f'got {self.merge_param_groups!r}')
        super().__init__(optim_wrapper_cfg, paramwise_cfg)

    def add_params(self, params: List[dict], module: nn.Module,
                   prefix: str = '', is_dcn_module=None) -> None:
        """MMEngine's ``add_params``; a teacher's subtree adds nothing."""
        if not isinstance(module, FrozenTeacher):
            super().add_params(params, module, prefix, is_dcn_module)

    def __call__(self, model: nn.Module) -> OptimWrapper:
        module = model.module if hasattr(model, 'module') else model
        origins = None
        if self.paramwise_cfg:
            params: list = []
            self.add_params(params, module)  # MMEngine's, without teachers
            if self.merge_param_groups:
                params, origins = merge_param_groups(params)
        else:
            frozen = {id(p) for m in module.modules()
                      if isinstance(m, FrozenTeacher) for p in m.parameters()}
            params = [p for p in module.parameters() if id(p) not in frozen]
        # MMEngine's root registries, as its constructor (the default scope
        # still finds this scope's entries first)
        optimizer = ROOT_OPTIMIZERS.build(
            dict(self.optimizer_cfg, params=params))
        if origins is not None:
            track_origins(optimizer, origins)
        wrapper_cfg = dict(self.optim_wrapper_cfg)
        wrapper_cfg.setdefault('type', 'OptimWrapper')
        return ROOT_OPTIM_WRAPPERS.build(wrapper_cfg,
                                         default_args=dict(optimizer=optimizer))


@OPTIMIZERS.register_module()
class LARS(_MMPretrainLARS):
    """MMPretrain's ``LARS`` (You et al. 2017, Algorithm 1; same arguments,
    same update) done a parameter group at a time on the device.

    MMPretrain's reads each parameter's weight and gradient norms back to
    the host (``.item()``) to form its trust ratio ``eta * |w| / (|g| + wd
    * |w| + eps)``: two device syncs per parameter and step, about 120 for a
    ResNet-18, each stalling the GPU's queue.  Here the ratios of a group
    come from two multi-tensor norms and stay on the device, and the update
    runs as multi-tensor operations.  The result differs only by rounding:
    the ratio is computed in the parameters' precision instead of in
    float64 on the host.  ``'mmpretrain.LARS'`` names the original.
    """

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group['params'] if p.grad is not None]
            if params:
                self._update(group, params)
        return loss

    def _update(self, group: dict, params: list) -> None:
        grads = [p.grad for p in params]
        decay, lr, momentum = (group['weight_decay'], group['lr'],
                               group['momentum'])
        steps = torch._foreach_add(grads, params, alpha=decay)
        if group.get('lars_exclude', False):
            torch._foreach_mul_(steps, lr)
        else:
            weight = torch.stack(torch._foreach_norm(params))
            grad = torch.stack(torch._foreach_norm(grads))
            trust = torch.where(
                (weight != 0) & (grad != 0),
                group['eta'] * weight / (grad + decay * weight + self.eps),
                torch.ones_like(weight))
            torch._foreach_mul_(steps, list((trust * lr).unbind(0)))
        if momentum != 0:
            buffers = []
            for p, step in zip(params, steps):
                state = self.state[p]
                if 'momentum_buffer' not in state:  # first step: the step
                    state['momentum_buffer'] = step.clone()
                    buffers.append(None)
                else:
                    buffers.append(state['momentum_buffer'])
            old = [(b, s) for b, s in zip(buffers, steps) if b is not None]
            if old:
                old_buffers, old_steps = map(list, zip(*old))
                torch._foreach_mul_(old_buffers, momentum)
                torch._foreach_add_(old_buffers, old_steps,
                                    alpha=1 - group['dampening'])
            buffers = [self.state[p]['momentum_buffer'] for p in params]
            if group['nesterov']:
                torch._foreach_add_(steps, buffers, alpha=momentum)
            else:
                steps = buffers
        torch._foreach_add_(params, steps, alpha=-1)


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
