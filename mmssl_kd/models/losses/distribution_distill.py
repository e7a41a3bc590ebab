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
        teacher_temp: teacher temperature tau_T (SEED: 1e-4); a schedule
            passes each step's value to :meth:`forward` instead.
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

    def target(self, teacher_logits: torch.Tensor,
               center: Optional[torch.Tensor] = None,
               teacher_temp: Optional[float] = None) -> torch.Tensor:
        """``softmax((t - c) / tau_T)`` in fp32, without gradient;
        ``teacher_temp`` (this step's tau_T) defaults to the constructor's."""
        temp = self.teacher_temp if teacher_temp is None else teacher_temp
        with torch.autocast(teacher_logits.device.type, enabled=False):
            logits = _at_least_fp32(teacher_logits.detach())
            if center is not None:
                logits = logits - center.detach()
            return F.softmax(logits / temp, dim=-1)

    def log_prob(self, student_logits: torch.Tensor) -> torch.Tensor:
        """``log_softmax(s / tau_S)`` in fp32."""
        with torch.autocast(student_logits.device.type, enabled=False):
            return F.log_softmax(
                _at_least_fp32(student_logits) / self.student_temp, dim=-1)

    @staticmethod
    def cross_entropy(target: torch.Tensor,
                      log_prob: torch.Tensor) -> torch.Tensor:
        """``-sum_k target_k log_prob_k`` per row, in fp32."""
        with torch.autocast(log_prob.device.type, enabled=False):
            return -(target * log_prob).sum(dim=-1)

    def forward(self, student_logits: torch.Tensor,
                teacher_logits: torch.Tensor,
                center: Optional[torch.Tensor] = None,
                all_pairs: bool = False,
                teacher_temp: Optional[float] = None) -> torch.Tensor:
        """Soft cross-entropy over the last dim.

        Args:
            student_logits: (..., K) similarities of the student.
            teacher_logits: (..., K) similarities of the teacher.
            center: optional (K,) or broadcastable centre subtracted from
                the teacher logits before the temperature (DINO).
            all_pairs: ``student_logits`` (S, ..., K) and ``teacher_logits``
                (T, ..., K) hold S and T views; the result is the (T, S, ...)
                cross-entropy of every (teacher view, student view) pair,
                each view's softmax computed once (DINO's T (S - 1) crop
                pairs from T + S softmaxes, not 2 T (S - 1)).
            teacher_temp: this step's tau_T (a schedule's value); default
                the constructor's.

        Returns:
            ``'mean'``/``'batchmean'``: a scalar, or with ``all_pairs`` the
            (T, S) means over the rows; ``'none'``: the per-row values.
        """
        target = self.target(teacher_logits, center, teacher_temp)
        log_prob = self.log_prob(student_logits)
        if all_pairs:
            with torch.autocast(log_prob.device.type, enabled=False):
                loss = -torch.einsum('t...k,s...k->ts...', target, log_prob)
        else:
            loss = self.cross_entropy(target, log_prob)
        if self.reduction == 'none':
            return loss
        return loss.flatten(2).mean(-1) if all_pairs else loss.mean()

    def extra_repr(self) -> str:
        return (f'student_temp={self.student_temp}, '
                f'teacher_temp={self.teacher_temp}, '
                f'reduction={self.reduction!r}')
