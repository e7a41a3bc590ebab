"""Optimizer wrappers that never step on a non-finite loss.

A NaN or inf loss, once back-propagated and stepped, writes NaN into every
weight, and the next checkpoint saves them: the run is lost from there on,
however long it goes on.  The check belongs right before the step, and the
one call every training step makes there is the wrapper's
``update_params(loss)``: ``BaseModel.train_step`` (every single-optimizer
algorithm, SEED included) and :class:`SeparateStepsMixin` (DoGo, MOKD: one
call per part of an ``OptimWrapperDict``) both go through it.  So the
guard is a mixin on MMEngine's ``OptimWrapper`` and ``AmpOptimWrapper``,
registered under their names in the ``mmssl_kd`` scope: every config gets
it with nothing to write (the precedent is the project's
``DefaultOptimWrapperConstructor``, :mod:`mmssl_kd.models.teachers`), and
``--amp`` too.  ``'mmengine.OptimWrapper'`` names the original.

Config (``optim_wrapper``, or its top level for
``PartsOptimWrapperConstructor``, which passes it to every part)::

    optim_wrapper = dict(optimizer=..., nonfinite_loss='stop')  # default
    optim_wrapper = dict(optimizer=..., nonfinite_loss='skip', max_skips=10)

``'stop'`` raises ``FloatingPointError`` before anything is back-propagated
or stepped.  ``'skip'`` drops the step and goes on, at most ``max_skips``
times in a run (then it stops as ``'stop'`` does).
"""
import contextlib
import logging
import math
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.dist import all_reduce, is_distributed
from mmengine.logging import MessageHub, print_log
from mmengine.optim import AmpOptimWrapper as _MMEngineAmpOptimWrapper
from mmengine.optim import OptimWrapper as _MMEngineOptimWrapper

from mmssl_kd.registry import OPTIM_WRAPPERS

MODES = ('stop', 'skip')

FIX = ('To go on: lower the learning rate (or lengthen its warm-up), train '
       'without --amp, clip gradients (optim_wrapper.clip_grad=dict('
       'max_norm=3.0)), check the data for broken images, then resume from '
       'the last checkpoint with `tools/train.py CONFIG --resume`.')
SKIP_HINT = (" Or let such steps be skipped: optim_wrapper.nonfinite_loss="
             "'skip' (at most optim_wrapper.max_skips of them).")


def _tensors(value) -> List[torch.Tensor]:
    """A loss term as ``parse_losses`` takes it: a tensor or a list."""
    values = value if isinstance(value, (list, tuple)) else [value]
    return [v for v in values if isinstance(v, torch.Tensor)]


def _loss_terms(losses: Optional[dict]) -> Dict[str, List[torch.Tensor]]:
    """The terms ``BaseModel.parse_losses`` sums: keys with 'loss'."""
    return {name: _tensors(value) for name, value in (losses or {}).items()
            if 'loss' in name and _tensors(value)}


def _where(hub: MessageHub) -> str:
    """'iteration k (epoch e)', counted from 1 as the logs count."""
    it, epoch = hub.get_info('iter'), hub.get_info('epoch')
    if it is None:
        return 'at an unknown iteration (no Runner)'
    return f'at iteration {it + 1}' + (
        '' if epoch is None else f' (epoch {epoch + 1})')


class NonFiniteLossGuard:
    """Mixin for an MMEngine optimizer wrapper: ``update_params`` checks the
    loss before back-propagating it.

    The loss counts as non-finite if the total it is given, or any loss
    term of the forward it belongs to, holds a NaN or inf, on any process
    (the decision is all-reduced, so all processes stop or skip together).
    Checking every term of the forward makes a model with several
    optimizers (DoGo, MOKD) stop before *any* part steps, and skip all its
    parts' steps, when one part's loss is bad.  The terms come from a
    forward hook on the model, held only while ``optim_context`` is open
    (``train_step`` runs the forward inside it).

    Args:
        nonfinite_loss: ``'stop'`` (default): raise ``FloatingPointError``
            naming the iteration, the epoch, the bad terms and their values;
            the weights stay those of the last good step and no checkpoint
            is written.  ``'skip'``: no backward, no step, gradients zeroed
            (with ``accumulative_counts > 1`` the window's gradients so far
            are dropped too); floating-point buffers the bad forward made
            non-finite (BatchNorm statistics, queues) get their values from
            before it back, which costs one copy of the model's buffers per
            step; a warning names the iteration and the terms, and the
            scalar ``skipped_steps`` (iterations skipped in the run, kept
            across resumes) is logged.
        max_skips: In ``'skip'`` mode, stop at the non-finite loss after
            this many skipped iterations; ``None`` never stops.
    """

    def __init__(self, *args, nonfinite_loss: str = 'stop',
                 max_skips: Optional[int] = 10, **kwargs):
        if nonfinite_loss not in MODES:
            raise ValueError(f'optim_wrapper.nonfinite_loss must be one of '
                             f'{MODES}, got {nonfinite_loss!r}')
        if max_skips is not None and (not isinstance(max_skips, int)
                                      or max_skips < 0):
            raise ValueError('optim_wrapper.max_skips must be an int >= 0 or '
                             f'None, got {max_skips!r}')
        super().__init__(*args, **kwargs)
        self.nonfinite_loss = nonfinite_loss
        self.max_skips = max_skips
        self._losses: Optional[dict] = None
        self._buffers: List[Tuple[torch.Tensor, torch.Tensor]] = []

    @contextlib.contextmanager
    def optim_context(self, model: nn.Module):
        """The wrapper's own ``optim_context``, plus: keep the loss dict the
        model's forward returns and, in ``'skip'`` mode, a copy of its
        floating-point buffers."""
        handle = model.register_forward_hook(self._keep_losses)
        if self.nonfinite_loss == 'skip':
            self._buffers = [(b, b.detach().clone()) for b in model.buffers()
                             if b.is_floating_point()]
        try:
            with super().optim_context(model):
                yield
        finally:
            handle.remove()

    def _keep_losses(self, module: nn.Module, args, output) -> None:
        if isinstance(output, dict):
            self._losses = output

    def update_params(self, loss: torch.Tensor,
                      step_kwargs: Optional[Dict] = None,
                      zero_kwargs: Optional[Dict] = None) -> None:
        """MMEngine's ``OptimWrapper.update_params`` if the loss is finite;
        else stop or skip (see the class docstring)."""
        losses, self._losses = self._losses, None
        buffers, self._buffers = self._buffers, []
        terms = _loss_terms(losses)
        if not self._any_nonfinite([loss] + sum(terms.values(), [])):
            super().update_params(loss, step_kwargs, zero_kwargs)
            return
        hub = MessageHub.get_current_instance()
        bad = f'Non-finite loss {_where(hub)}: {self._describe(loss, terms)}.'
        skipped = (self._count_skip(hub) if self.nonfinite_loss == 'skip'
                   else None)
        if self.nonfinite_loss == 'stop' or (
                None not in (skipped, self.max_skips)
                and skipped > self.max_skips):
            why = ('' if skipped is None else
                   f' That makes {skipped} skipped iterations, more than '
                   f'max_skips={self.max_skips}.')
            last = hub.get_info('last_ckpt') or 'none written yet'
            raise FloatingPointError(
                f'{bad}{why} Stopped before the optimizer step: the weights '
                'are those of the last good step, no checkpoint was written '
                f'with them, and the last checkpoint ({last}) is kept. '
                + FIX + ('' if skipped else SKIP_HINT))
        restored = 0
        with torch.no_grad():
            for buf, before in buffers:
                if not torch.isfinite(buf).all():
                    buf.copy_(before)
                    restored += 1
        self.zero_grad(**(zero_kwargs or {}))
        self._inner_count += 1  # as backward() would have counted it
        if skipped is not None:
            print_log(
                f'{bad} Skipped the optimizer step ({skipped} skipped '
                f'iterations so far, max_skips={self.max_skips})' + (
                    f'; restored {restored} buffers it had made non-finite'
                    if restored else '') + '.', logger='current',
                level=logging.WARNING)

    @staticmethod
    def _any_nonfinite(tensors: List[torch.Tensor]) -> bool:
        bad = torch.stack([~torch.isfinite(t.detach()).all()
                           for t in tensors]).any().float()
        if is_distributed():
            all_reduce(bad, op='max')
        return bool(bad)

    @staticmethod
    def _describe(loss: torch.Tensor,
                  terms: Dict[str, List[torch.Tensor]]) -> str:
        """'loss_x = nan, ..., total = nan', the bad terms as logged."""
        values = {name: sum(t.detach().float().mean().item() for t in ts)
                  for name, ts in terms.items()}
        values['total'] = loss.detach().float().mean().item()
        bad = [f'{name} = {value}' for name, value in values.items()
               if not math.isfinite(value)]
        return ', '.join(bad) or 'on another process'

    @staticmethod
    def _count_skip(hub: MessageHub) -> Optional[int]:
        """Count this iteration as skipped; ``None`` if another part's
        wrapper has counted it already."""
        it = hub.get_info('iter')
        if it is not None and hub.get_info('last_skipped_iter') == it:
            return None
        skipped = hub.get_info('skipped_steps', 0) + 1
        hub.update_info('skipped_steps', skipped)
        hub.update_info('last_skipped_iter', it)
        hub.update_scalar('train/skipped_steps', skipped)
        return skipped


@OPTIM_WRAPPERS.register_module()
class OptimWrapper(NonFiniteLossGuard, _MMEngineOptimWrapper):
    """MMEngine's ``OptimWrapper`` with :class:`NonFiniteLossGuard`."""


@OPTIM_WRAPPERS.register_module()
class AmpOptimWrapper(NonFiniteLossGuard, _MMEngineAmpOptimWrapper):
    """MMEngine's ``AmpOptimWrapper`` with :class:`NonFiniteLossGuard`."""


@OPTIM_WRAPPERS.register_module()
class BF16OptimWrapper(OptimWrapper):
    """Mixed precision in bfloat16: the forward runs under bf16 autocast
    (the losses compute their logits and softmaxes in fp32 with autocast
    off); weights, gradients and the optimizer stay fp32.  No loss scaling:
    bf16 has fp32's exponent range, so gradients do not underflow as in
    fp16, and no scaler means no device sync per step to check for
    overflow.  Runs on CPUs and on GPUs with bf16 (Ampere and later);
    ``tools/train.py --amp`` uses it.  Same state dict as
    :class:`OptimWrapper`, so a run may resume with or without it.
    """

    @contextlib.contextmanager
    def optim_context(self, model: nn.Module):
        param = next(model.parameters(), None)
        device = 'cpu' if param is None else param.device.type
        with super().optim_context(model), torch.autocast(
                device, dtype=torch.bfloat16):
            yield
