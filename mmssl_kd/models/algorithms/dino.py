"""DINO: self-distillation with no labels (Caron et al., ICCV 2021)."""
from typing import Dict, List, Optional, Union

import torch
import torch.nn as nn
from mmpretrain.structures import DataSample

from mmssl_kd.registry import MODELS
from ..utils import ema_teacher, multi_crop_forward, paired_init
from .base import Distiller, Net, Parts
from .views import check_multi_crop


class StudentNet(nn.Module):
    """``neck(backbone(x))``, holding references to the student's parts
    (the EMA teacher copies it, with the same attribute names)."""

    def __init__(self, backbone: nn.Module, neck: nn.Module):
        super().__init__()
        self.backbone, self.neck = backbone, neck

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.neck(self.backbone(x))


@MODELS.register_module()
class DINO(Distiller):
    """A student (``backbone`` + ``neck``, a :class:`DINOHead`) learns to
    match an EMA teacher of itself: the teacher sees the 2 global crops,
    the student every crop; :class:`DINOLoss` compares each teacher global
    output with the student's output of every other crop (Eq. 3).

    Inputs are the crops of ``MultiView`` (global crops first, then the
    local ones); each resolution runs through a network once.

    Args:
        backbone: the student encoder; its last output (ViT [CLS], pooled
            CNN feature) feeds the head.
        neck: the :class:`DINOHead`.
        loss: the :class:`DINOLoss` config (its teacher-temperature
            schedule: :meth:`schedules`).
        base_momentum: the teacher's EMA momentum at the start in MMEngine's
            convention (``1 - 0.996``), cosine to 0 over training.
        num_global_crops: the crops the teacher sees (2).
        extra_heads: more student heads by attribute name (a None config
            sets the attribute to None), built from a copy of the random
            state before the teacher, which averages them too (for
            subclasses: GLSD's dense head; their :meth:`student` uses them).
    """

    def __init__(self, backbone: dict, neck: dict, loss: dict,
                 base_momentum: float = 0.004, num_global_crops: int = 2,
                 extra_heads: Optional[Dict[str, Optional[dict]]] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None):
        super().__init__(backbone=backbone, neck=neck,
                         data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.loss_module = MODELS.build(loss)
        self.num_global_crops = num_global_crops
        with paired_init():
            for name, cfg in (extra_heads or {}).items():
                setattr(self, name, cfg and MODELS.build(cfg))
        self.teacher = ema_teacher(self.student(), base_momentum)

    def student(self) -> nn.Module:
        """The student network the teacher averages."""
        return StudentNet(self.backbone, self.neck)

    @property
    def parts(self) -> Parts:
        return Parts(
            nets=dict(backbone=Net(self.backbone, self.neck),
                      teacher=Net(self.teacher.module.backbone,
                                  self.teacher.module.neck)),
            ema=dict(teacher=self.student))

    def schedules(self, iteration: int, epoch: int,
                  max_iters: Optional[int]) -> Dict[str, float]:
        """DINO's teacher temperature: a linear warm-up over epochs."""
        return dict(teacher_temp=self.loss_module.teacher_temp_at(epoch))

    def loss(self, inputs: List[torch.Tensor],
             data_samples: Optional[List[DataSample]] = None, *,
             teacher_temp: float) -> Dict[str, torch.Tensor]:
        """Teacher on the global crops (no gradient), student on all."""
        check_multi_crop('DINO', inputs, self.num_global_crops)
        with torch.no_grad():
            teacher_out = multi_crop_forward(
                self.teacher, inputs[:self.num_global_crops])
        student_out = multi_crop_forward(self.student(), inputs)
        return dict(loss=self.loss_module(student_out, teacher_out,
                                          teacher_temp))
