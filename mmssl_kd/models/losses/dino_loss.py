"""DINO's loss (Caron et al., ICCV 2021, Eq. 3 and Sec. 3.1): the student's
softmax of every crop against the centred, sharpened teacher softmax of
every other global crop."""
from typing import Iterator, List, Tuple

import torch
import torch.nn as nn
from mmengine.dist import all_reduce, get_world_size

from mmssl_kd.registry import MODELS
from ..utils.schedules import linear_warmup
from .distribution_distill import SimilarityDistillationLoss


def teacher_temp_at(epoch: int, warmup_temp: float, temp: float,
                    warmup_epochs: int) -> float:
    """DINO's teacher temperature at ``epoch``: :func:`linear_warmup` from
    ``warmup_temp`` to ``temp``."""
    return linear_warmup(epoch, warmup_temp, temp, warmup_epochs)


def crop_pairs(num_student: int, num_teacher: int
               ) -> Iterator[Tuple[int, int]]:
    """The (teacher crop, student crop) pairs DINO compares: every teacher
    global crop with every other crop (``n = T (S - 1)`` pairs when the
    teacher's crops are the student's first ones)."""
    for t in range(num_teacher):
        for s in range(num_student):
            if s != t:
                yield t, s


@MODELS.register_module()
class DINOLoss(nn.Module):
    """``1/n sum_{t in globals} sum_{s != t} H(P_t, P_s)``, with
    ``P_t = softmax((g_t - c) / tau_t)`` and ``P_s = softmax(g_s / tau_s)``
    (n = number of pairs), and the centre ``c`` an EMA of the teacher's
    batch mean over all ranks, updated after the loss.

    Args:
        out_channels: K, the size of the centre.
        student_temp: tau_s (0.1).
        teacher_temp: tau_t after the warm-up (DINO ViT-S: 0.04 to 0.07).
        warmup_teacher_temp: tau_t at epoch 0.
        warmup_epochs: epochs of the linear warm-up (30; 0: none).
        center_momentum: the centre's EMA momentum (0.9).
    """

    def __init__(self, out_channels: int, student_temp: float = 0.1,
                 teacher_temp: float = 0.04,
                 warmup_teacher_temp: float = 0.04, warmup_epochs: int = 0,
                 center_momentum: float = 0.9):
        super().__init__()
        self.teacher_temp = teacher_temp
        self.warmup_teacher_temp = warmup_teacher_temp
        self.warmup_epochs = warmup_epochs
        self.center_momentum = center_momentum
        self.criterion = SimilarityDistillationLoss(
            student_temp=student_temp, teacher_temp=teacher_temp)
        self.register_buffer('center', torch.zeros(1, out_channels))

    def teacher_temp_at(self, epoch: int) -> float:
        """tau_t of epoch ``epoch`` (the schedule of this loss's settings,
        :func:`teacher_temp_at`), for the algorithm to pass to
        :meth:`forward`."""
        return teacher_temp_at(epoch, self.warmup_teacher_temp,
                               self.teacher_temp, self.warmup_epochs)

    def forward(self, student: List[torch.Tensor],
                teacher: List[torch.Tensor],
                teacher_temp: float) -> torch.Tensor:
        """Mean cross-entropy over the (teacher global, other crop) pairs.

        Args:
            student: (B, K) outputs of every crop, the global crops first.
            teacher: (B, K) outputs of the global crops.
            teacher_temp: this step's tau_t (:meth:`teacher_temp_at`).
        """
        pairs = list(crop_pairs(len(student), len(teacher)))
        # every crop's softmax once (T + S of them), all pairs at once
        losses = self.criterion(torch.stack(student), torch.stack(teacher),
                                self.center, all_pairs=True,
                                teacher_temp=teacher_temp)
        total = sum(losses[t, s] for t, s in pairs)
        self.update_center(torch.cat(teacher))
        return total / len(pairs)

    @torch.no_grad()
    def update_center(self, teacher: torch.Tensor) -> None:
        """``c <- m c + (1 - m) mean(teacher)``, the mean over all ranks."""
        batch_sum = teacher.float().sum(dim=0, keepdim=True)
        all_reduce(batch_sum)
        batch_mean = batch_sum / (len(teacher) * get_world_size())
        self.center.mul_(self.center_momentum).add_(
            batch_mean, alpha=1 - self.center_momentum)
