"""The distiller base: every algorithm declares its parts once, and one
training step (schedules, forward, optimizer steps, EMA) serves them all.

After solo-learn's ``BaseMethod``/``BaseMomentumMethod`` (parts and
momentum pairs declared once, the EMA in one place) and DINO's
``main_dino.py`` step (every schedule a value of the iteration, given to
the loss).  One iteration of :meth:`Distiller.train_step`:

1. :meth:`Distiller.schedules` gives this iteration's values (e.g. DINO's
   teacher temperature) from the Runner's progress;
2. ``forward(mode='loss')`` starts the EMA teachers (a copy of the
   initialised student, on the first step only) and calls
   ``loss(inputs, data_samples, **values)``;
3. one optimizer steps on the total loss, or, for a model of separately
   optimised parts, each part's optimizer on the losses it claims;
4. :meth:`Distiller.end_step` moves every EMA teacher towards its student
   (DINO Eq. 2) and logs the schedule values.

Under DDP the step runs in :class:`DistillerDataParallel`, which calls
:meth:`Distiller.end_step` after MMEngine's DDP step.
"""
import contextlib
from dataclasses import dataclass, field
from typing import Callable, Dict, List, NamedTuple, Optional, Union

import torch
import torch.nn as nn
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmpretrain.models import BaseSelfSupervisor
from mmpretrain.structures import DataSample

from ..utils import CosineEMA, bare


class Net(NamedTuple):
    """One network of a distiller as the tools see it (kNN, FLOP counting,
    ``torch.compile``, export): its backbone, the neck on it, and any other
    trained heads, by name.  References, not copies."""
    backbone: nn.Module
    neck: Optional[nn.Module] = None
    heads: Optional[Dict[str, nn.Module]] = None


class OptimPart(NamedTuple):
    """What one optimizer of a separately optimised model owns: the child
    module it steps (None: every child that no other part names) and the
    losses it minimises (the keys ending with ``suffix``)."""
    child: Optional[str]
    suffix: str


@dataclass
class Parts:
    """A distiller's declaration of what it is made of.

    Attributes:
        nets: name -> :class:`Net`; ``'backbone'`` is the student (the one
            evaluated by default), the others are named as the model's
            children (``'teacher'``, ``'peer'``, ``'target'``...).
        ema: EMA attribute -> a function giving its source network (the
            bare student, same parameter names).
        optim: optimizer key -> :class:`OptimPart`; empty: one optimizer
            for the whole model.
    """
    nets: Dict[str, Net]
    ema: Dict[str, Callable[[], nn.Module]] = field(default_factory=dict)
    optim: Dict[str, OptimPart] = field(default_factory=dict)


class Distiller(BaseSelfSupervisor):
    """Base of every algorithm: subclasses define :attr:`parts`,
    :meth:`loss` (taking the schedule values as keyword arguments) and, if
    they have schedules, :meth:`schedules`."""

    @property
    def parts(self) -> Parts:
        raise NotImplementedError

    @property
    def optim_parts(self) -> Dict[str, Optional[str]]:
        """Optimizer key -> child, for ``PartsOptimWrapperConstructor``."""
        return {key: part.child for key, part in self.parts.optim.items()}

    def schedules(self, iteration: int, epoch: int,
                  max_iters: Optional[int]) -> Dict[str, float]:
        """This iteration's schedule values, passed to :meth:`loss` and
        logged.  ``max_iters`` is None outside a Runner."""
        return {}

    def forward(self, inputs: Union[torch.Tensor, List[torch.Tensor]],
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'):
        """``'tensor'``: the student's backbone features; ``'loss'``: the
        schedules of the Runner's current iteration, then :meth:`loss`."""
        if mode == 'tensor':
            return self.extract_feat(inputs)
        if mode != 'loss':
            raise RuntimeError(f'{type(self).__name__} has no mode {mode!r}')
        hub = MessageHub.get_current_instance()
        self.step_values = self.schedules(
            hub.get_info('iter', 0), hub.get_info('epoch', 0),
            hub.get_info('max_iters'))
        self._update_emas(first_only=True)  # the first step: copy
        return self.loss(inputs, data_samples, **self.step_values)

    @torch.no_grad()
    def _update_emas(self, first_only: bool = False) -> None:
        """Each EMA teacher one update from its student (``first_only``:
        only those never updated, without a device sync per step)."""
        for name, student in self.parts.ema.items():
            ema: CosineEMA = getattr(self, name)
            if not first_only or ema.updates == 0:
                ema.update_parameters(student())

    def end_step(self, log_vars: Dict[str, torch.Tensor]
                 ) -> Dict[str, torch.Tensor]:
        """After the optimizer step: every EMA teacher one update towards
        its student; the schedule values into the logs."""
        self._update_emas()
        log_vars.update(
            {k: torch.tensor(v) for k, v in self.step_values.items()})
        return log_vars

    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper: Union[OptimWrapper, OptimWrapperDict]
                   ) -> Dict[str, torch.Tensor]:
        """One iteration (see the module docstring)."""
        if not self.parts.optim:
            return self.end_step(super().train_step(data, optim_wrapper))
        wrappers = {key: optim_wrapper[key] for key in self.parts.optim}
        with contextlib.ExitStack() as stack:
            for wrapper in wrappers.values():
                stack.enter_context(wrapper.optim_context(self))
            data = self.data_preprocessor(data, True)
            losses = self._run_forward(data, mode='loss')
        return self.end_step(self.step_parts(losses, wrappers))

    def step_parts(self, losses: Dict[str, torch.Tensor],
                   wrappers: Dict[str, OptimWrapper]
                   ) -> Dict[str, torch.Tensor]:
        """Each optimizer steps on the sum of the losses it claims (the
        targets are detached, so no gradient crosses parts and the order
        of the steps does not matter).  A loss no part claims is an error.

        Returns the log variables: each term, ``loss_<suffix>`` per part
        and ``loss`` (their sum, logged only).
        """
        parts = self.parts.optim
        unclaimed = [k for k in losses if 'loss' in k and not any(
            k.endswith(p.suffix) for p in parts.values())]
        if unclaimed:
            raise KeyError(
                f'{type(self).__name__}: no optimizer claims the loss(es) '
                f'{unclaimed}; each part owns the losses ending with its '
                f'suffix {[p.suffix for p in parts.values()]}.')
        log_vars = {'loss': 0.}
        for key, part in parts.items():
            total, part_vars = self.parse_losses(
                {k: v for k, v in losses.items() if k.endswith(part.suffix)})
            part_vars[f'loss{part.suffix}'] = part_vars.pop('loss')
            log_vars.update(part_vars)
            log_vars['loss'] = log_vars['loss'] + total.detach()
            wrappers[key].update_params(total)
        return log_vars


def declared_nets(model: nn.Module) -> Dict[str, Net]:
    """The networks ``model`` declares (:attr:`Distiller.parts`, its DDP
    wrapper removed); a model that declares none (an MMPretrain algorithm)
    has its student only."""
    model = bare(model)
    parts = getattr(model, 'parts', None)
    if isinstance(parts, Parts):
        return parts.nets
    if not isinstance(getattr(model, 'backbone', None), nn.Module):
        raise ValueError(f'{type(model).__name__} has no `backbone` and '
                         'declares no parts (a Distiller\'s `parts`).')
    return dict(backbone=Net(model.backbone, getattr(model, 'neck', None)))
