"""MMPretrain's two-view baselines (MoCo v3, SimCLR, BYOL) under their own
names in the ``mmssl_kd`` scope, with the project's view check: given one
view, MMPretrain's fail with an ``IndexError`` or a reshape error, and given
three they silently use two (``'mmpretrain.MoCoV3'`` names the original).
SimCLR also gets the project's NT-Xent, whose all-gather carries the right
gradient across ranks (MMPretrain's ``GatherLayer`` does not: stack.md
item 7)."""
from typing import Dict, List

import torch
import torch.nn as nn
from mmpretrain.models import BYOL as _BYOL
from mmpretrain.models import MoCoV3 as _MoCoV3
from mmpretrain.models import SimCLR as _SimCLR
from mmpretrain.structures import DataSample

from mmssl_kd.registry import MODELS
from ..losses import NTXentLoss
from ..utils import CosineEMA
from .base import Net, Parts
from .views import check_views


class _TwoViews:
    """``loss`` checks for exactly two views, then runs the parent's."""

    def loss(self, inputs: List[torch.Tensor],
             data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        check_views(type(self).__name__, inputs, 2, 'MultiView(num_views=2)')
        return super().loss(inputs, data_samples, **kwargs)


def _ema_parts(model: nn.Module, ema: str) -> Parts:
    """The student (backbone, neck, head) and the momentum network ``ema``
    (an EMA of ``nn.Sequential(backbone, neck)``) of MoCo v3 and BYOL:
    declared for the tools, the step is MMPretrain's."""
    backbone, neck = getattr(model, ema).module
    return Parts(nets={'backbone': Net(model.backbone, model.neck,
                                       dict(head=model.head)),
                       ema: Net(backbone, neck)})


def _project_ema(ema: nn.Module) -> CosineEMA:
    """The project's :class:`CosineEMA` in place of MMPretrain's (same
    arguments, state and values; one momentum per update, multi-tensor
    kernels, no device sync per parameter)."""
    return CosineEMA(ema.module, momentum=ema.momentum,
                     end_momentum=ema.end_momentum, interval=ema.interval,
                     update_buffers=ema.update_buffers)


@MODELS.register_module()
class MoCoV3(_TwoViews, _MoCoV3):
    """MMPretrain's :class:`~mmpretrain.models.MoCoV3`, two views checked,
    its momentum encoder the project's :class:`CosineEMA`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.momentum_encoder = _project_ema(self.momentum_encoder)

    parts = property(lambda self: _ema_parts(self, 'momentum_encoder'))


@MODELS.register_module()
class SimCLR(_TwoViews, _SimCLR):
    """MMPretrain's :class:`~mmpretrain.models.SimCLR` (Chen et al. 2020,
    eq. 1: NT-Xent at the head's temperature over the 2N views of the
    gathered batch), two views checked, the loss computed by
    :class:`~mmssl_kd.models.losses.NTXentLoss`: the same value in one
    process, and the single-process gradient on several."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.nt_xent = NTXentLoss(self.head.temperature)

    parts = property(lambda self: Parts(nets=dict(
        backbone=Net(self.backbone, self.neck))))

    def loss(self, inputs: List[torch.Tensor],
             data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        check_views(type(self).__name__, inputs, 2, 'MultiView(num_views=2)')
        z = self.neck(self.backbone(torch.cat(inputs)))[0]
        z1, z2 = z.chunk(2)
        return dict(loss=self.nt_xent(z1, z2))


@MODELS.register_module()
class BYOL(_TwoViews, _BYOL):
    """MMPretrain's :class:`~mmpretrain.models.BYOL`, two views checked,
    its target network the project's :class:`CosineEMA`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.target_net = _project_ema(self.target_net)

    parts = property(lambda self: _ema_parts(self, 'target_net'))
