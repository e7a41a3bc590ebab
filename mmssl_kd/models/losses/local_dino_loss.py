"""The region (local) term of Global-Local Self-Distillation (Lebailly and
Tuytelaars, WACV 2023, Sec. 3; EsViT's region loss, Li et al., ICLR 2022,
Eq. 4): each student token of a view distils from its matched token of the
teacher's other global view."""
from typing import Dict, List, Optional, Tuple

import torch

from mmssl_kd.registry import MODELS
from .dino_loss import DINOLoss, crop_pairs

Match = Tuple[torch.Tensor, Optional[torch.Tensor]]


@MODELS.register_module()
class LocalDINOLoss(DINOLoss):
    """For every (teacher global u, student view v != u) pair,

        l_uv = 1/B sum_b 1/T_v sum_k m_k H(P_t(r'_{u, j*(k)}), P_s(r_{v, k}))

    with the DINO softmaxes of :class:`DINOLoss` (temperatures, warm-up) and
    a centre of its own, an EMA of the teacher's mean region output. Masked
    tokens (``m_k = 0``) still count in ``1/T_v``, as in the official code;
    the loss is the mean of ``l_uv`` over the pairs.

    Takes :class:`DINOLoss`'s arguments; ``out_channels`` is the dense
    head's K.
    """

    def forward(self, student: List[torch.Tensor],
                teacher: List[torch.Tensor],
                matches: Dict[Tuple[int, int], Match],
                teacher_temp: float) -> torch.Tensor:
        """Mean masked region cross-entropy over the view pairs.

        Args:
            student: (B, T_v, K) dense-head outputs of every crop, the
                global crops first.
            teacher: (B, T_u, K) those of the teacher's global crops.
            matches: for each pair ``(u, v)`` of :func:`crop_pairs`, the
                (B, T_v) index into teacher view u's tokens and the (B, T_v)
                boolean mask, or None for no mask (similarity matching).
            teacher_temp: this step's tau_t (:meth:`teacher_temp_at`).
        """
        pairs = list(crop_pairs(len(student), len(teacher)))
        missing = [p for p in pairs if p not in matches]
        if missing:
            raise KeyError('LocalDINOLoss: no token matches for the '
                           f'(teacher, student) view pairs {missing}')
        # each view's softmax once; a token's target is a row of its view's
        targets = [self.criterion.target(t, self.center, teacher_temp)
                   for t in teacher]
        log_probs = [self.criterion.log_prob(s) for s in student]
        total = 0.
        for t, s in pairs:
            index, mask = matches[t, s]
            target = targets[t].gather(1, index[..., None].expand(
                -1, -1, targets[t].shape[-1]))  # (B, T_v, K)
            loss = self.criterion.cross_entropy(target, log_probs[s])
            if mask is not None:
                loss = loss * mask
            total = total + loss.mean()
        self.update_center(torch.cat([t.flatten(0, 1) for t in teacher]))
        return total / len(pairs)
