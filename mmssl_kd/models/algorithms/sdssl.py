"""SDSSL: Self-Distilled Self-Supervised Representation Learning.

Jang, Kim, Lee, Kim. WACV 2023 (arXiv 2111.12958); official code
hagiss/SDSSL (``pl_train_moco.py``, ``pl_train_byol.py``,
``pl_train_simclr.py``).  The objectives are in
:mod:`mmssl_kd.models.losses.self_distill`.
"""
from functools import partial
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmpretrain.structures import DataSample

from mmssl_kd.registry import MODELS
from ..losses import NTXentLoss
from ..losses.self_distill import (
    byol_loss,
    moco_nce,
    predictor_terms,
    simclr_terms,
)
from ..utils import CosineEMA, paired_init
from ..utils.schedules import cosine_schedule
from .base import Distiller, Net, Parts
from .views import check_views

BASES = ('mocov3', 'byol', 'simclr')


class _LastBlock(nn.Module):
    """``(h_1, ..., h_L) -> (h_L, )``: the final block for the projector."""

    def forward(self, blocks: Tuple[torch.Tensor, ...]
                ) -> Tuple[torch.Tensor]:
        return (blocks[-1], )


@MODELS.register_module()
class SDSSL(Distiller):
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
      (:func:`moco_nce`, tau 0.2) or BYOL's ``2 - 2 cos``
      (:func:`predictor_terms`).  The last term
      (``loss_pred``, weight ``predictor_weight``: the official 12 x mean,
      i.e. a sum over the 12 layers) trains only the predictors.
    * ``base='simclr'``: no teacher, no predictors, ``z_l = g_l(h_l)``
      with both views through the student as one batch (the projectors'
      BN sees the joint batch, as the official code)::

        L = NTXent(z^1_L, z^2_L) + lambda(t) mean_{l<L} NCE(z_l, sg[z_L])

      (:func:`final_target_nce`: the other view's final output is the
      positive, all other final outputs the negatives; tau 0.2).

    ``lambda(t) = inter_weight * (1 - cos(pi t / T)) / 2`` over the
    training iterations (:meth:`schedules`; official ``ratio``: 1.0 for
    MoCo v3, 0.8 for BYOL and SimCLR).  ``inter_weight=0`` is the plain
    method, as the official baselines (``ratio: 0, st_inter: false``): only
    the last block has heads, and there is no intermediate and no
    predictor-only term.  Logits and losses are fp32.

    Logged: ``loss_final``, ``loss_inter`` (already times lambda(t)) and
    ``loss_pred`` (MoCo v3 / BYOL) when self-distilling, and
    ``inter_weight`` (lambda(t)).

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
        # heads of the blocks below the last, registered (so initialised)
        # after the last block's, which start as in the plain method
        self.self_distill = inter_weight > 0
        num_inter = depth - 1 if self.self_distill else 0
        inter_neck = neck if inter_neck is None else inter_neck
        with paired_init():
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
    def parts(self) -> Parts:
        heads = dict(predictor=self.predictor, inter_necks=self.inter_necks,
                     inter_predictors=self.inter_predictors)
        nets = dict(backbone=Net(self.backbone, self.neck, heads))
        if self.target is None:
            return Parts(nets=nets)
        backbone, last, neck = self.target.module
        nets['target'] = Net(backbone, nn.Sequential(last, neck))
        return Parts(nets=nets, ema=dict(target=self._target_source))

    @property
    def projectors(self) -> List[nn.Module]:
        """``g_l`` of every block with heads, the last block's last."""
        return [*self.inter_necks, self.neck]

    @property
    def predictors(self) -> List[nn.Module]:
        """``q_l`` of every block with heads, the last block's last."""
        return [*self.inter_predictors, self.predictor]

    def schedules(self, iteration: int, epoch: int,
                  max_iters: Optional[int]) -> Dict[str, float]:
        """lambda(t), cosine from 0 to ``inter_weight`` over the training
        iterations; ``inter_weight`` outside a Runner."""
        return dict(inter_weight=self.inter_weight if not max_iters else
                    cosine_schedule(iteration, max_iters, 0.,
                                    self.inter_weight))

    def _project(self, x: torch.Tensor) -> List[torch.Tensor]:
        """``g_l(h_l(x))`` of every block with heads, the last block's
        last."""
        blocks = self.backbone(x)[-len(self.projectors):]
        return [g((h, ))[0] for g, h in zip(self.projectors, blocks)]

    def loss(self, inputs: List[torch.Tensor],
             data_samples: Optional[List[DataSample]] = None, *,
             inter_weight: float) -> Dict[str, torch.Tensor]:
        """The SDSSL objective of two views (see the class docstring);
        networks under autocast (if on), logits and losses in fp32."""
        check_views('SDSSL', inputs, 2, 'MultiView(num_views=2)')
        if self.base == 'simclr':
            # both views as one batch: the projectors' BN sees the joint
            # batch (official ``self.student(torch.cat((x1, x2)))``)
            joint = self._project(torch.cat(inputs))
            size = len(inputs[0])
            z = [[zl[:size] for zl in joint], [zl[size:] for zl in joint]]
            losses = simclr_terms(z, self.ntxent, self.temperature,
                                  self.self_distill)
        else:
            # each view on its own (official ``self.student(x1)``, ``(x2)``)
            z = [self._project(x) for x in inputs]
            with torch.no_grad():
                k = [self.target(x)[0] for x in inputs]
            distance = byol_loss if self.base == 'byol' else partial(
                moco_nce, temperature=self.temperature)
            losses = predictor_terms(z, k, self.predictors, distance,
                                     self.self_distill,
                                     self.predictor_weight)
        if self.self_distill:
            losses['loss_inter'] = inter_weight * losses['loss_inter']
        return losses
