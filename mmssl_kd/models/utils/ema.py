"""The EMA teacher's update with one momentum per step and multi-tensor
kernels.

MMPretrain's ``CosineEMA`` (DINO Eq. 2's teacher update,
``theta_t <- lambda theta_t + (1 - lambda) theta_s`` with lambda on a
cosine from ``1 - momentum`` to ``1 - end_momentum``) computes the momentum
inside ``avg_func``, once per parameter: a message-hub lookup and a
``cos`` of the step tensor each time, which on a GPU is a device-to-host
sync per parameter (about 150 for a ViT-S), then two kernels per
parameter.  :class:`CosineEMA` computes the momentum once per update, in
float64 as DINO's ``cosine_scheduler`` does (MMPretrain's goes through a
float32 step tensor), and updates every parameter with two
``torch._foreach`` calls (``tests/test_models/test_utils/test_ema.py`` pins
both).
The step count is read from its buffer once, after construction or a
load, and counted on the host from then on: no device sync per update.
"""
from typing import Dict, List, Optional

import torch
import torch.nn as nn
from mmengine.logging import MessageHub
from mmpretrain.models.utils import CosineEMA as _MMPretrainCosineEMA

from .schedules import cosine_schedule


class CosineEMA(_MMPretrainCosineEMA):
    """MMPretrain's :class:`~mmpretrain.models.utils.CosineEMA` (same
    arguments, state dict and values), updated in bulk.

    Args:
        foreach: update all parameters with multi-tensor kernels (default
            True); False runs MMPretrain's per-parameter ``avg_func``.
        Other arguments as MMPretrain's.
    """

    def __init__(self, model: nn.Module, *args, foreach: bool = True,
                 **kwargs) -> None:
        super().__init__(model, *args, **kwargs)
        self.foreach = foreach
        self._steps: Optional[int] = None  # host copy of the `steps` buffer

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._steps = None  # read the loaded buffer on the next update

    def current_momentum(self, steps: int) -> float:
        """MMPretrain's ``m`` (the weight of the source) at update ``steps``:
        ``end - (end - start) (cos(pi steps / max_iters) + 1) / 2``."""
        max_iters = MessageHub.get_current_instance().get_info('max_iters')
        return cosine_schedule(steps, max_iters, self.momentum,
                               self.end_momentum)

    @property
    def updates(self) -> int:
        """The updates made so far: the ``steps`` buffer, read from its
        device once (after construction or a load), then counted here."""
        if self._steps is None:
            self._steps = int(self.steps)
        return self._steps

    def update_parameters(self, model: nn.Module) -> None:
        """The averaged parameters (and buffers) from ``model``'s, as
        MMEngine's ``BaseAveragedModel.update_parameters`` does."""
        if not self.foreach:
            self._steps = None  # MMPretrain's update counts on the device
            return super().update_parameters(model)
        steps = self.updates
        if steps == 0 or steps % self.interval == 0:
            source: Dict[str, torch.Tensor] = (
                model.state_dict() if self.update_buffers else
                dict(model.named_parameters()))
            names = [k for k, p in self.avg_parameters.items()
                     if steps == 0 or p.dtype.is_floating_point]
            averaged = [self.avg_parameters[k].data for k in names]
            new = [source[k].data.to(a.device)
                   for k, a in zip(names, averaged)]
            if steps == 0:
                torch._foreach_copy_(averaged, new)
            else:
                momentum = self.current_momentum(steps)
                torch._foreach_mul_(averaged, 1 - momentum)
                torch._foreach_add_(averaged, new, alpha=momentum)
        if not self.update_buffers:
            buffers: List[torch.Tensor] = list(self.module.buffers())
            if buffers:
                torch._foreach_copy_(
                    buffers, [b.data.to(a.device) for a, b in
                              zip(buffers, model.buffers())])
        self.steps += 1
        self._steps += 1


def ema_teacher(net: nn.Module, momentum: float) -> CosineEMA:
    """An EMA copy of ``net`` without stochastic depth (DINO builds its
    teacher with ``drop_path_rate=0``; so does MOKD)."""
    teacher = CosineEMA(net, momentum=momentum)
    for module in teacher.modules():
        if hasattr(module, 'drop_prob'):  # DropPath of mmcv and timm
            module.drop_prob = 0.
    return teacher
