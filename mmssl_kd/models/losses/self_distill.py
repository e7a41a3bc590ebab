"""SDSSL's objectives (Jang et al., WACV 2023, Eq. 4-5; official code
hagiss/SDSSL): the distances of its three base methods, and each base's
final and intermediate terms over the projections of every block."""
from typing import Callable, Dict, List

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dist import get_rank

from ..utils import concat_all_gather
from .moco import moco_logits
from .ntxent import NTXentLoss

Distance = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def moco_nce(query: torch.Tensor, keys: torch.Tensor,
             temperature: float) -> torch.Tensor:
    """MoCo v3's InfoNCE, ``2 tau CE(q k_all^T / tau, own index)``
    (:func:`~mmssl_kd.models.losses.moco_logits`: normalised, keys from
    every rank as the negatives, fp32)."""
    return 2 * temperature * F.cross_entropy(
        *moco_logits(query, keys, temperature))


def byol_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """BYOL's ``2 - 2 cos(p, z)``, mean over the batch, in fp32."""
    with torch.autocast(pred.device.type, enabled=False):
        return (2 - 2 * F.cosine_similarity(pred.float(), target.float(),
                                            dim=1)).mean()


def final_target_nce(query: torch.Tensor, finals: List[torch.Tensor],
                     view: int, temperature: float) -> torch.Tensor:
    """SD-SimCLR's intermediate term for view ``view`` of the queries.

    Positive: the other view's final-layer output of the same image;
    negatives: the final-layer outputs of every other image, both views,
    from all ranks; the query's own-view final output is masked out.  The
    final outputs carry no gradient.

    Args:
        query: (B, D) an intermediate layer's projections of one view.
        finals: the two views' (B, D) final-layer projections.
        view: 0 or 1, the view of ``query``.
        temperature: tau.
    """
    with torch.autocast(query.device.type, enabled=False):  # fp32 logits
        query = F.normalize(query.float(), dim=1)
        keys = [concat_all_gather(F.normalize(f.detach().float(), dim=1))
                for f in finals]
        logits = query @ torch.cat(keys).t() / temperature  # (B, 2N)
    num = keys[0].shape[0]
    own = torch.arange(len(query), device=query.device) + \
        len(query) * get_rank()
    own_view = F.one_hot(own + view * num, 2 * num).bool()
    logits = logits.masked_fill(own_view, float('-inf'))
    return F.cross_entropy(logits, own + (1 - view) * num)


def predictor_terms(z: List[List[torch.Tensor]], k: List[torch.Tensor],
                    predictors: List[nn.Module], distance: Distance,
                    self_distill: bool, predictor_weight: float
                    ) -> Dict[str, torch.Tensor]:
    """SD-MoCo v3 / SD-BYOL (Eq. 4-5): for views ``(a, b)`` in
    ``{(1, 2), (2, 1)}`` and ``u^a_l = q_l(z^a_l)``::

        loss_final = sum d(u^a_L, k^b)
        loss_inter = sum mean_{l<L} d(u^a_l, k^b)      (times lambda(t) later)
        loss_pred  = w_pred sum mean_{l<=L} d(q_l(sg[z^a_l]), k^b)

    Args:
        z: per view, the projections ``z_l`` of every block with heads, the
            last block's last.
        k: per view, the EMA target's final projection (no gradient).
        predictors: ``q_l`` of those blocks, in the same order.
        distance: ``d`` (:func:`moco_nce` at tau, or :func:`byol_loss`).
        self_distill: False: the plain method (``loss_final`` only).
        predictor_weight: ``w_pred`` (official 12: the mean times 12).
    """
    final = inter = pred_only = 0.
    for a, b in ((0, 1), (1, 0)):
        u = [q((zl, ))[0] for q, zl in zip(predictors, z[a])]
        final = final + distance(u[-1], k[b])
        if not self_distill:
            continue
        u_det = [q((zl.detach(), ))[0] for q, zl in zip(predictors, z[a])]
        inter = inter + torch.stack(
            [distance(ul, k[b]) for ul in u[:-1]]).mean()
        pred_only = pred_only + torch.stack(
            [distance(ul, k[b]) for ul in u_det]).mean()
    if not self_distill:
        return dict(loss_final=final)
    return dict(loss_final=final, loss_inter=inter,
                loss_pred=predictor_weight * pred_only)


def simclr_terms(z: List[List[torch.Tensor]], ntxent: NTXentLoss,
                 temperature: float, self_distill: bool
                 ) -> Dict[str, torch.Tensor]:
    """SD-SimCLR: ``loss_final = NTXent(z^1_L, z^2_L)`` and ``loss_inter =
    mean_{l<L} NCE(z_l, sg[z_L])`` (:func:`final_target_nce`, times
    lambda(t) later); ``z`` as in :func:`predictor_terms`."""
    finals = [F.normalize(zs[-1].float(), dim=1) for zs in z]
    if not self_distill:
        return dict(loss_final=ntxent(*finals))
    inter = torch.stack([
        torch.stack([final_target_nce(z[a][layer], finals, a, temperature)
                     for a in (0, 1)]).mean()
        for layer in range(len(z[0]) - 1)]).mean()
    return dict(loss_final=ntxent(*finals), loss_inter=inter)
