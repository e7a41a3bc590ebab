"""Optimizer wrappers that never step on a non-finite loss.

A NaN or inf loss, once back-propagated and stepped, writes NaN into every
weight, and the next checkpoint saves them: the run is lost from there on,
however long it goes on.  The check belongs right before the step, and the
one call every training step makes there is the wrapper's
``update_params(loss)``: ``Distiller.train_step`` (one call for a
single-optimizer algorithm, one per part of an ``OptimWrapperDict`` for
DoGo and MOKD) goes through it.  So the
guard is a mixin on MMEngine's ``OptimWrapper`` and ``AmpOptimWrapper``,
registered under their names in the ``mmssl_kd`` scope: every config gets
it with nothing to write (the precedent is the project's
``DefaultOptimWrapperConstructor``, :mod:`mmssl_kd.engine.optimizers`), and
``--amp`` too.  ``'mmengine.OptimWrapper'`` names the original.

Config (``optim_wrapper``, or its top level for
``PartsOptimWrapperConstructor``, which passes it to every part)::

    optim_wrapper = dict(optimizer=..., nonfinite_loss='stop')  # default
    optim_wrapper = dict(optimizer=..., nonfinite_loss='skip', max_skips=10)

``'stop'`` raises ``FloatingPointError`` before anything is back-propagated
or stepped.  ``'skip'`` drops the step and goes on, at most ``max_skips``
times in a run (then it stops as ``'stop'`` does).

A diverging run need not have a non-finite loss: weights near 1e30 still
give a finite loss when BatchNorm normalises them, while its running
variance (which the training forward does not use) overflows to inf.  So
the guard also checks the model's floating-point buffers after each
forward (in the same reduction as the loss), and
:func:`raise_if_nonfinite_weights` checks every parameter and buffer
before each checkpoint is written (the project's ``CheckpointHook``): a
non-finite model is never saved as a good one.

Gradient clipping: MMEngine's ``clip_grad=dict(max_norm=3.0)`` scales all
gradients by one factor when their global norm exceeds ``max_norm``.  The
DINO family (DINO, GLSD, MOKD) clips each parameter's gradient on its own
(dino ``utils.clip_gradients``); these wrappers (and so ``--amp`` and every
part of an ``OptimWrapperDict``) also take::

    optim_wrapper = dict(optimizer=..., clip_grad=dict(
        type='per_parameter', max_norm=3.0))

(:func:`clip_grad_per_parameter_`; after unscaling under fp16 AMP, as the
official code does).
"""
import contextlib
import logging
import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.dist import all_reduce, is_distributed
from mmengine.logging import MessageHub, print_log
from mmengine.model import is_model_wrapper
from mmengine.optim import AmpOptimWrapper as _MMEngineAmpOptimWrapper
from mmengine.optim import OptimWrapper as _MMEngineOptimWrapper
from mmengine.optim import OptimWrapperDict

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


def nonfinite_flags(tensors: Sequence[torch.Tensor]) -> List[bool]:
    """For each tensor, whether it holds a NaN or inf on any process.

    One fused kernel takes the max-norm of every floating-point tensor
    (NaN or inf exactly when an element is, and it cannot overflow), and
    one all-reduce shares the flags: every process gets the same answer
    for one device sync.  All processes must pass the same number of
    tensors (the same model, the same loss terms).
    """
    flags = [False] * len(tensors)
    checked = [i for i, t in enumerate(tensors)
               if t.is_floating_point() and t.numel()]
    if not checked:
        return flags
    norms = torch._foreach_norm([tensors[i].detach() for i in checked],
                                float('inf'))
    bad = (~torch.isfinite(torch.stack(
        [n.to(norms[0].device, torch.float32) for n in norms]))).float()
    if is_distributed():
        all_reduce(bad, op='max')
    for i, value in zip(checked, bad.tolist()):
        flags[i] = value > 0
    return flags


def _float_buffers(model: nn.Module) -> List[Tuple[str, torch.Tensor]]:
    """The model's floating-point buffers, named as in its state dict."""
    if is_model_wrapper(model):
        model = model.module
    return [(name, buf) for name, buf in model.named_buffers()
            if buf.is_floating_point()]


def _first(names: List[str], shown: int = 5) -> str:
    more = len(names) - shown
    return ', '.join(names[:shown]) + (f' and {more} more' if more > 0
                                       else '')


def nonfinite_weights(model: nn.Module) -> List[str]:
    """The parameters and floating-point buffers of ``model`` (wrapped or
    not) that hold a NaN or inf on any process, by state-dict name."""
    bare = model.module if is_model_wrapper(model) else model
    named = [(name, p) for name, p in bare.named_parameters()
             if p.is_floating_point()] + _float_buffers(bare)
    flags = nonfinite_flags([t for _, t in named])
    return [name for (name, _), bad in zip(named, flags) if bad]


def raise_if_nonfinite_weights(model: nn.Module, optim_wrapper,
                               saving: str) -> None:
    """Raise ``FloatingPointError`` if a parameter or buffer of ``model``
    holds a NaN or inf (on any process), before ``saving`` is written.

    The message names the tensors, the iteration, the last checkpoint
    (kept) and the fixes; a skip hint unless ``optim_wrapper`` (or every
    part of an ``OptimWrapperDict``) skips already.
    """
    bad = nonfinite_weights(model)
    if not bad:
        return
    hub = MessageHub.get_current_instance()
    wrappers = (optim_wrapper.values()
                if isinstance(optim_wrapper, OptimWrapperDict)
                else [optim_wrapper])
    skips = all(getattr(w, 'nonfinite_loss', None) == 'skip'
                for w in wrappers)
    last = hub.get_info('last_ckpt') or 'none written yet'
    raise FloatingPointError(
        f'Non-finite weights {_where(hub)}: {len(bad)} parameter(s) or '
        f'buffer(s) hold NaN or inf: {_first(bad)}. The training diverged '
        '(the loss can stay finite while BatchNorm statistics overflow). '
        f'Stopped before writing {saving}: no checkpoint holds these '
        f'weights, and the last checkpoint ({last}) is kept. '
        + FIX + ('' if skips else SKIP_HINT))


def clip_grad_per_parameter_(parameters, max_norm: float) -> torch.Tensor:
    """Clip each parameter's gradient to L2 norm ``max_norm`` separately,
    in place, as DINO's ``utils.clip_gradients`` (dino utils.py): a
    gradient ``g`` becomes ``g * max_norm / (||g|| + 1e-6)`` where that
    factor is below 1, and is left as it is otherwise.

    Returns the global L2 norm of the gradients before clipping (logged as
    ``grad_norm``, as MMEngine's norm clipping logs it).
    """
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.)
    norms = torch._foreach_norm(grads)
    torch._foreach_mul_(grads, [(max_norm / (n + 1e-6)).clamp(max=1.)
                                for n in norms])
    return torch.linalg.vector_norm(torch.stack(
        [n.to(norms[0].device) for n in norms]))


class PerParameterClip:
    """Mixin for an MMEngine optimizer wrapper: ``clip_grad=dict(
    type='per_parameter', max_norm=...)`` clips with
    :func:`clip_grad_per_parameter_`; other ``clip_grad`` are MMEngine's
    (``'norm'``, ``'value'``)."""

    def __init__(self, *args, clip_grad: Optional[dict] = None, **kwargs):
        per_parameter = (isinstance(clip_grad, dict)
                         and clip_grad.get('type') == 'per_parameter')
        if per_parameter:
            clip_grad = {k: v for k, v in clip_grad.items() if k != 'type'}
            if set(clip_grad) != {'max_norm'}:
                raise ValueError(
                    "optim_wrapper.clip_grad=dict(type='per_parameter') "
                    'takes max_norm and nothing else, got '
                    f'{sorted(clip_grad)}; e.g. clip_grad=dict('
                    "type='per_parameter', max_norm=3.0)")
        super().__init__(*args, clip_grad=clip_grad, **kwargs)
        if per_parameter:
            self.clip_func = clip_grad_per_parameter_
            self.grad_name = 'grad_norm'


class NonFiniteLossGuard:
    """Mixin for an MMEngine optimizer wrapper: ``update_params`` checks the
    loss, and the buffers the forward updated, before back-propagating.

    The step counts as non-finite if the total loss it is given, any loss
    term of the forward it belongs to, or any floating-point buffer of the
    model after that forward (BatchNorm statistics, queues) holds a NaN or
    inf, on any process (one fused check, all-reduced, so all processes
    stop or skip together).
    Checking every term of the forward makes a model with several
    optimizers (DoGo, MOKD) stop before *any* part steps, and skip all its
    parts' steps, when one part's loss is bad.  The terms come from a
    forward hook on the model, held only while ``optim_context`` is open
    (``train_step`` runs the forward inside it).

    Args:
        nonfinite_loss: ``'stop'`` (default): raise ``FloatingPointError``
            naming the iteration, the epoch, the bad terms and their values
            (or the bad buffers); the parameters stay those of the last good
            step and no checkpoint is written.  ``'skip'``: no backward, no
            step, gradients zeroed (with ``accumulative_counts > 1`` the
            window's gradients so far are dropped too); floating-point
            buffers the bad forward made non-finite (BatchNorm statistics,
            queues) get their values from before it back, which costs one
            copy of the model's buffers per step; a warning names the
            iteration and the terms (or buffers), and the scalar
            ``skipped_steps`` (iterations skipped in the run, kept across
            resumes) is logged.
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
        self._named_buffers: List[Tuple[str, torch.Tensor]] = []
        self._buffers: List[Tuple[torch.Tensor, torch.Tensor]] = []

    @contextlib.contextmanager
    def optim_context(self, model: nn.Module):
        """The wrapper's own ``optim_context``, plus: keep the loss dict the
        model's forward returns, its floating-point buffers and, in
        ``'skip'`` mode, a copy of them."""
        handle = model.register_forward_hook(self._keep_losses)
        self._named_buffers = _float_buffers(model)
        if self.nonfinite_loss == 'skip':
            self._buffers = [(b, b.detach().clone())
                             for _, b in self._named_buffers]
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
        """MMEngine's ``OptimWrapper.update_params`` if the loss and the
        buffers are finite; else stop or skip (see the class docstring)."""
        losses, self._losses = self._losses, None
        buffers, self._buffers = self._buffers, []
        named, self._named_buffers = self._named_buffers, []
        terms = _loss_terms(losses)
        loss_tensors = [loss] + sum(terms.values(), [])
        flags = nonfinite_flags(loss_tensors + [b for _, b in named])
        if not any(flags):
            super().update_params(loss, step_kwargs, zero_kwargs)
            return
        hub = MessageHub.get_current_instance()
        bad_buffers = [name for (name, _), flag in
                       zip(named, flags[len(loss_tensors):]) if flag]
        if any(flags[:len(loss_tensors)]):
            bad = (f'Non-finite loss {_where(hub)}: '
                   f'{self._describe(loss, terms)}' + (
                       f'; non-finite buffers: {_first(bad_buffers)}'
                       if bad_buffers else '') + '.')
        else:
            bad = (f'Non-finite buffers {_where(hub)}, after a forward '
                   f'with a finite loss: {_first(bad_buffers)}.')
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
                f'{bad}{why} Stopped before the optimizer step: the '
                'parameters are those of the last good step, no checkpoint '
                f'was written with them, and the last checkpoint ({last}) is '
                'kept. '
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
class OptimWrapper(NonFiniteLossGuard, PerParameterClip,
                   _MMEngineOptimWrapper):
    """MMEngine's ``OptimWrapper`` with :class:`NonFiniteLossGuard` and
    :class:`PerParameterClip`."""


@OPTIM_WRAPPERS.register_module()
class AmpOptimWrapper(NonFiniteLossGuard, PerParameterClip,
                      _MMEngineAmpOptimWrapper):
    """MMEngine's ``AmpOptimWrapper`` with :class:`NonFiniteLossGuard` and
    :class:`PerParameterClip`."""


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
