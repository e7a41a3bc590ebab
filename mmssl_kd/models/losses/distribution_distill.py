"""Soft cross-entropy between teacher and student similarity distributions.

SEED (Fang et al., ICLR 2021, Sec. 3.2): for anchors
``D+ = [z^T_i, q_1 .. q_K]``,

    p^T_ij = exp(z^T_i . d_j / tau_T) / sum_{d in D+} exp(z^T_i . d / tau_T)
    p^S_ij = exp(z^S_i . d_j / tau_S) / sum_{d in D+} exp(z^S_i . d / tau_S)
    L_SEED = -1/N sum_i sum_j p^T_ij log p^S_ij

The same form, with a centre subtracted from the teacher logits, is the
DINO loss; with B x B similarity matrices it is DoGo's distillation term.
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmssl_kd.registry import MODELS


def _at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.promote_types(x.dtype, torch.float32))


@MODELS.register_module()
class SimilarityDistillationLoss(nn.Module):
    """``H(softmax((t - c) / tau_T), log_softmax(s / tau_S))`` per row.

    Computed in fp32 (fp64 stays fp64) with autocast disabled: a teacher
    temperature such as 1e-4 amplifies half-precision rounding of the
    logits by 1e4 and overflows fp16.  The teacher target carries no gradient.

    Args:
        student_temp: student temperature tau_S (SEED: 0.2).
        teacher_temp: teacher temperature tau_T (SEED: 1e-4).  A plain
            attribute, so a schedule may change it during training.
        reduction: ``'mean'`` (alias ``'batchmean'``): mean over rows of
            the per-row cross-entropy (a sum over the last dim, NOT a mean
            over elements as in ``F.kl_div(reduction='mean')``);
            ``'none'``: the per-row values.
    """

    def __init__(self, student_temp: float = 0.2, teacher_temp: float = 1e-4,
                 reduction: str = 'mean'):
        super().__init__()
        if reduction not in ('mean', 'batchmean', 'none'):
            raise ValueError(f"reduction must be 'mean', 'batchmean' or "
                             f"'none', got {reduction!r}")
        self.student_temp = student_temp
        self.teacher_temp = teacher_temp
        self.reduction = reduction

    def forward(self, student_logits: torch.Tensor,
                teacher_logits: torch.Tensor,
                center: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Soft cross-entropy over the last dim.

        Args:
            student_logits: (..., K) similarities of the student.
            teacher_logits: (..., K) similarities of the teacher.
            center: optional (K,) or broadcastable centre subtracted from
                the teacher logits before the temperature (DINO).

        Returns:
            A scalar for ``'mean'``/``'batchmean'``, else shape (...).
        """
        with torch.autocast(student_logits.device.type, enabled=False):
            teacher_logits = _at_least_fp32(teacher_logits.detach())
            if center is not None:
                teacher_logits = teacher_logits - center.detach()
            target = F.softmax(teacher_logits / self.teacher_temp, dim=-1)
            log_prob = F.log_softmax(
                _at_least_fp32(student_logits) / self.student_temp, dim=-1)
            loss = -(target * log_prob).sum(dim=-1)
        if self.reduction == 'none':
            return loss
        return loss.mean()

    def extra_repr(self) -> str:
        return (f'student_temp={self.student_temp}, '
                f'teacher_temp={self.teacher_temp}, '
                f'reduction={self.reduction!r}')
