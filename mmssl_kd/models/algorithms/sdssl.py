"""SDSSL: Self-Distilled Self-Supervised Representation Learning.

Jang, Kim, Lee, Kim. WACV 2023 (arXiv 2111.12958); official code
hagiss/SDSSL (``pl_train_moco.py``, ``pl_train_byol.py``,
``pl_train_simclr.py``).
"""
import math
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dist import get_rank
from mmengine.logging import MessageHub
from mmpretrain.models import BaseSelfSupervisor
from mmpretrain.structures import DataSample

from mmssl_kd.registry import MODELS
from ..losses import NTXentLoss, moco_logits
from ..utils import CosineEMA, concat_all_gather
from .views import check_views

BASES = ('mocov3', 'byol', 'simclr')


class _LastBlock(nn.Module):
    """``(h_1, ..., h_L) -> (h_L, )``: the final block for the projector."""

    def forward(self, blocks: Tuple[torch.Tensor, ...]
                ) -> Tuple[torch.Tensor]:
        return (blocks[-1], )


def cosine_ramp(step: int, max_steps: int, end: float) -> float:
    """``end * (1 - cos(pi * step / max_steps)) / 2``: 0 at the start,
    ``end / 2`` half-way, ``end`` at the end (SDSSL's lambda(t))."""
    return end * (1 - math.cos(math.pi * min(step / max_steps, 1.))) / 2


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


@MODELS.register_module()
class SDSSL(BaseSelfSupervisor):
    """Self-distillation of every ViT block through the SSL objective.

    ``h_l`` is block l's [CLS] token through the shared final norm
    (:class:`MultiLayerCLSViT`), ``g_l`` its projector, ``q_l`` its
    predictor, ``k^b`` the EMA teacher's final projection of view b
    (backbone and final projector only).  For views ``(a, b)`` in
    ``{(1, 2), (2, 1)}`` and ``u^a_l = q_l(g_l(h_l(x^a)))``:

    * ``base='mocov3'`` / ``'byol'`` (paper Eq. 4-5; the official code)::

        L = sum_(a,b) [ d(u^a_L, k^b) + lambda(t) mean_{l<L} d(u^a_l, k^b) ]
            + w_pred sum_(a,b) mean_{l<=L} d(q_l(sg[g_l(h_l(x^a))]), k^b)

      with ``d`` MoCo v3's ``2 tau CE`` over the gathered keys
      (:func:`moco_nce`, tau 0.2) or BYOL's ``2 - 2 cos``.  The last term
      (``loss_pred``, weight ``predictor_weight``: the official 12 x mean,
      i.e. a sum over the 12 layers) trains only the predictors.
    * ``base='simclr'``: no teacher, no predictors, ``z_l = g_l(h_l)``
      with both views through the student as one batch (the projectors'
      BN sees the joint batch, as the official code)::

        L = NTXent(z^1_L, z^2_L) + lambda(t) mean_{l<L} NCE(z_l, sg[z_L])

      (:func:`final_target_nce`: the other view's final output is the
      positive, all other final outputs the negatives; tau 0.2).

    ``lambda(t) = inter_weight * (1 - cos(pi t / T)) / 2`` over the
    training iterations (:func:`cosine_ramp`; official ``ratio``: 1.0 for
    MoCo v3, 0.8 for BYOL and SimCLR).  ``inter_weight=0`` is the plain
    method, as the official baselines (``ratio: 0, st_inter: false``): only
    the last block has heads, and there is no intermediate and no
    predictor-only term.  Logits and losses are fp32.

    Logged: ``loss_final``, ``loss_inter`` (already times lambda(t)) and
    ``loss_pred`` (MoCo v3 / BYOL) when self-distilling, and ``inter_weight`` (lambda(t); MMEngine
    sums only the keys with ``loss`` in their name).

    The last block's projector and predictor are ``neck`` and
    ``predictor``; the other blocks' are ``inter_necks[l]`` and
    ``inter_predictors[l]`` (absent in the plain method).  Under the same
    seed the backbone and the last block's heads start from the same
    weights in SDSSL and in its plain baseline.

    Args:
        backbone: a ``MultiLayerCLSViT`` returning every block.
        neck: projector of the last block (``g_L``).
        inter_neck: projector of every other block (official: hidden size
            half the last one's); default ``neck``.
        predictor: ``q_l`` for every block (MoCo v3, BYOL); None for SimCLR.
        base: ``'mocov3'``, ``'byol'`` or ``'simclr'``.
        inter_weight: lambda's final value.
        predictor_weight: weight of the mean predictor-only term.
        temperature: tau of the contrastive terms.
        base_momentum: EMA momentum at the start in MMPretrain's convention
            (``1 - 0.996``), cosine to 0 (``CosineEMA``).
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 inter_neck: Optional[dict] = None,
                 predictor: Optional[dict] = None,
                 base: str = 'mocov3',
                 inter_weight: float = 1.0,
                 predictor_weight: float = 12.,
                 temperature: float = 0.2,
                 base_momentum: float = 0.004,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None):
        if base not in BASES:
            raise ValueError(f'base must be one of {BASES}, got {base!r}')
        if (predictor is None) != (base == 'simclr'):
            raise ValueError(
                f"base={base!r}: {'no' if base == 'simclr' else 'a'} "
                'predictor is needed (MoCo v3 and BYOL have one per block, '
                'SimCLR none).')
        super().__init__(backbone=backbone, neck=neck,
                         data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        depth = len(self.backbone.out_indices)
        if depth != self.backbone.num_layers:
            raise ValueError(
                f'SDSSL needs every block of the backbone; its out_indices '
                f'give {depth} of {self.backbone.num_layers}.')
        self.predictor = None if predictor is None else MODELS.build(
            predictor)
        # heads of the blocks below the last: built from a copy of the
        # random state and registered (so initialised) after the last
        # block's, which start from the same weights as in the plain method
        self.self_distill = inter_weight > 0
        num_inter = depth - 1 if self.self_distill else 0
        inter_neck = neck if inter_neck is None else inter_neck
        with torch.random.fork_rng(devices=[]):
            self.inter_necks = nn.ModuleList(
                MODELS.build(inter_neck) for _ in range(num_inter))
            self.inter_predictors = nn.ModuleList(
                MODELS.build(predictor) for _ in range(num_inter)
                if predictor is not None)
        self.base = base
        self.inter_weight = inter_weight
        self.predictor_weight = predictor_weight
        self.temperature = temperature
        if base == 'simclr':
            self.ntxent = NTXentLoss(temperature)
            self.target = None
        else:
            self.target = CosineEMA(self._target_source(),
                                    momentum=base_momentum)

    def _target_source(self) -> nn.Sequential:
        """What the EMA teacher averages: backbone and final projector."""
        return nn.Sequential(self.backbone, _LastBlock(), self.neck)

    @property
    def projectors(self) -> List[nn.Module]:
        """``g_l`` of every block with heads, the last block's last."""
        return [*self.inter_necks, self.neck]

    @property
    def predictors(self) -> List[nn.Module]:
        """``q_l`` of every block with heads, the last block's last."""
        return [*self.inter_predictors, self.predictor]

    def current_inter_weight(self) -> float:
        """lambda(t) at the Runner's current iteration; ``inter_weight``
        outside a Runner (no ``max_iters`` in the message hub)."""
        hub = MessageHub.get_current_instance()
        max_iters = hub.get_info('max_iters')
        if not max_iters:
            return self.inter_weight
        return cosine_ramp(hub.get_info('iter', 0), max_iters,
                           self.inter_weight)

    def _project(self, x: torch.Tensor) -> List[torch.Tensor]:
        """``g_l(h_l(x))`` of every block with heads, the last block's
        last."""
        blocks = self.backbone(x)[-len(self.projectors):]
        return [g((h, ))[0] for g, h in zip(self.projectors, blocks)]

    def _distance(self, pred: torch.Tensor,
                  target: torch.Tensor) -> torch.Tensor:
        if self.base == 'mocov3':
            return moco_nce(pred, target, self.temperature)
        return byol_loss(pred, target)

    def loss(self, inputs: List[torch.Tensor],
             data_samples: Optional[List[DataSample]] = None
             ) -> Dict[str, torch.Tensor]:
        """The SDSSL objective of two views (see the class docstring)."""
        check_views('SDSSL', inputs, 2, 'MultiView(num_views=2)')
        views = inputs
        weight = self.current_inter_weight()
        # student: the projection of every block with heads, per view;
        # SimCLR projects both views as one batch, so the projectors' BN
        # statistics are the joint batch's (official
        # ``self.student(torch.cat((x1, x2)))``), MoCo v3 and BYOL each
        # view on its own (official ``self.student(x1)``, ``(x2)``)
        if self.base == 'simclr':
            joint = self._project(torch.cat(views))
            size = len(views[0])
            z = [[zl[:size] for zl in joint], [zl[size:] for zl in joint]]
        else:
            z = [self._project(x) for x in views]
        # networks under autocast (if on); the losses take fp32 logits
        if self.base == 'simclr':
            losses = self._simclr_terms(z)
        else:
            losses = self._predictor_terms(views, z)
        if self.self_distill:
            losses['loss_inter'] = weight * losses['loss_inter']
        losses['inter_weight'] = torch.tensor(weight)
        return losses

    def _predictor_terms(self, views: List[torch.Tensor],
                         z: List[List[torch.Tensor]]
                         ) -> Dict[str, torch.Tensor]:
        """SD-MoCo v3 / SD-BYOL: student predictions against EMA targets."""
        with torch.no_grad():
            self.target.update_parameters(self._target_source())
            k = [self.target(x)[0] for x in views]
        final = inter = pred_only = 0.
        for a, b in ((0, 1), (1, 0)):
            u = [q((zl, ))[0] for q, zl in zip(self.predictors, z[a])]
            final = final + self._distance(u[-1], k[b])
            if not self.self_distill:
                continue
            u_det = [q((zl.detach(), ))[0]
                     for q, zl in zip(self.predictors, z[a])]
            inter = inter + torch.stack(
                [self._distance(ul, k[b]) for ul in u[:-1]]).mean()
            pred_only = pred_only + torch.stack(
                [self._distance(ul, k[b]) for ul in u_det]).mean()
        if not self.self_distill:
            return dict(loss_final=final)
        return dict(loss_final=final, loss_inter=inter,
                    loss_pred=self.predictor_weight * pred_only)

    def _simclr_terms(self, z: List[List[torch.Tensor]]
                      ) -> Dict[str, torch.Tensor]:
        """SD-SimCLR: NT-Xent of the last block; intermediate blocks
        against the detached final outputs."""
        finals = [F.normalize(zs[-1].float(), dim=1) for zs in z]
        if not self.self_distill:
            return dict(loss_final=self.ntxent(*finals))
        inter = torch.stack([
            torch.stack([final_target_nce(z[a][layer], finals, a,
                                          self.temperature)
                         for a in (0, 1)]).mean()
            for layer in range(len(z[0]) - 1)]).mean()
        return dict(loss_final=self.ntxent(*finals), loss_inter=inter)
