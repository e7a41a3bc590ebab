"""DINO: self-distillation with no labels (Caron et al., ICCV 2021)."""
from typing import Dict, List, Optional, Union

import torch
import torch.nn as nn
from mmpretrain.models import BaseSelfSupervisor
from mmpretrain.structures import DataSample

from mmssl_kd.registry import MODELS
from ..utils import CosineEMA, multi_crop_forward
from .views import check_multi_crop


def ema_teacher(net: nn.Module, momentum: float) -> CosineEMA:
    """An EMA copy of ``net`` without stochastic depth (DINO builds its
    teacher with ``drop_path_rate=0``; so does MOKD)."""
    teacher = CosineEMA(net, momentum=momentum)
    for module in teacher.modules():
        if hasattr(module, 'drop_prob'):  # DropPath of mmcv and timm
            module.drop_prob = 0.
    return teacher


class StudentNet(nn.Module):
    """``neck(backbone(x))``, holding references to the student's parts
    (the EMA teacher copies it, with the same attribute names)."""

    def __init__(self, backbone: nn.Module, neck: nn.Module):
        super().__init__()
        self.backbone, self.neck = backbone, neck

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.neck(self.backbone(x))


@MODELS.register_module()
class DINO(BaseSelfSupervisor):
    """A student (``backbone`` + ``neck``, a :class:`DINOHead`) learns to
    match an EMA teacher of itself: the teacher sees the 2 global crops,
    the student every crop; :class:`DINOLoss` compares each teacher global
    output with the student's output of every other crop.

    Inputs are the crops of ``MultiView`` (global crops first, then the
    local ones); each resolution runs through a network once.

    Args:
        backbone: the student encoder; its last output (ViT [CLS], pooled
            CNN feature) feeds the head.
        neck: the :class:`DINOHead`.
        loss: the :class:`DINOLoss` config.
        base_momentum: the teacher's EMA momentum at the start in MMEngine's
            convention (``1 - 0.996``), cosine to 0 over training.
        num_global_crops: the crops the teacher sees (2).
    """

    def __init__(self, backbone: dict, neck: dict, loss: dict,
                 base_momentum: float = 0.004, num_global_crops: int = 2,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None):
        super().__init__(backbone=backbone, neck=neck,
                         data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.loss_module = MODELS.build(loss)
        self.num_global_crops = num_global_crops
        self.teacher = ema_teacher(self._student(), base_momentum)

    def _student(self) -> 'StudentNet':
        return StudentNet(self.backbone, self.neck)

    def loss(self, inputs: List[torch.Tensor],
             data_samples: Optional[List[DataSample]] = None
             ) -> Dict[str, torch.Tensor]:
        """Teacher on the global crops (no gradient), student on all."""
        check_multi_crop('DINO', inputs, self.num_global_crops)
        with torch.no_grad():
            self.teacher.update_parameters(self._student())
            teacher_out = multi_crop_forward(
                self.teacher, inputs[:self.num_global_crops])
        student_out = multi_crop_forward(self._student(), inputs)
        loss = self.loss_module(student_out, teacher_out)
        return dict(loss=loss,
                    teacher_temp=torch.tensor(
                        self.loss_module.criterion.teacher_temp))
