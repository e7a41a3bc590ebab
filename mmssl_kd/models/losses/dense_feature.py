"""Per-location feature distillation: the student's feature map, projected
to the teacher's width (FitNets' regressor, Romero et al., ICLR 2015,
Eq. 3) and resized to the teacher's grid, matches the teacher's features
at every location by a weighted sum of cosine distance and smooth L1 (the
form of AM-RADIO's spatial feature loss, Ranzinger et al., CVPR 2024)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmssl_kd.registry import MODELS


@MODELS.register_module()
class DenseFeatureLoss(nn.Module):
    """``mean_{b,p} [w_cos (1 - cos(s_bp, t_bp)) + w_l1 SmoothL1(s_bp,
    t_bp)]`` over the teacher's (h, w) locations p, with ``s`` the
    student's projected map bilinearly resized to (h, w); the teacher map
    carries no gradient.  In fp32 with autocast off.

    Args:
        cosine_weight: ``w_cos``.
        smooth_l1_weight: ``w_l1`` (the smooth L1 is averaged over the
            channels as well).
        beta: the smooth L1's threshold.
    """

    def __init__(self, cosine_weight: float = 1.0,
                 smooth_l1_weight: float = 0.0, beta: float = 1.0):
        super().__init__()
        if cosine_weight < 0 or smooth_l1_weight < 0 or not (
                cosine_weight or smooth_l1_weight):
            raise ValueError(
                'DenseFeatureLoss needs non-negative weights, not both 0; '
                f'got cosine_weight={cosine_weight}, smooth_l1_weight='
                f'{smooth_l1_weight}')
        self.cosine_weight = cosine_weight
        self.smooth_l1_weight = smooth_l1_weight
        self.beta = beta

    def forward(self, student: torch.Tensor,
                teacher: torch.Tensor) -> torch.Tensor:
        """``student`` (B, C, h', w') projected map, ``teacher`` (B, C, h,
        w) features."""
        if student.dim() != 4 or teacher.dim() != 4 or \
                student.shape[:2] != teacher.shape[:2]:
            raise ValueError(
                'DenseFeatureLoss compares (B, C, h, w) maps of the same B '
                f'and C: the student head gives {tuple(student.shape)}, the '
                f'teacher {tuple(teacher.shape)}. Set the dense head\'s '
                f'out_channels to the teacher\'s width {teacher.shape[1]}.')
        with torch.autocast(student.device.type, enabled=False):
            student = F.interpolate(student.float(), size=teacher.shape[-2:],
                                    mode='bilinear', align_corners=False)
            teacher = teacher.detach().float()
            loss = 0.
            if self.cosine_weight:
                cos = F.cosine_similarity(student, teacher, dim=1)
                loss = loss + self.cosine_weight * (1 - cos).mean()
            if self.smooth_l1_weight:
                loss = loss + self.smooth_l1_weight * F.smooth_l1_loss(
                    student, teacher, beta=self.beta)
        return loss
