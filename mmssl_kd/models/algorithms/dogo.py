"""DoGo: Distill on the Go (Bhat et al., CVPR-W 2021, arXiv 2104.09866).

Online mutual self-supervised distillation of two peers, following the
official code (NeurAI-Lab/DoGo, branch ``dogo``).
"""
from typing import Dict, List, NamedTuple, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.structures import DataSample

from mmssl_kd.registry import MODELS
from ..losses import NTXentLoss
from ..utils import bare, build, paired_init
from .base import Distiller, Net, OptimPart, Parts
from .views import check_views

ModuleOrCfg = Union[dict, nn.Module]


class PeerOut(NamedTuple):
    """A peer's L2-normalised outputs for one view."""
    z: torch.Tensor  # the projector's
    p: Optional[torch.Tensor]  # the predictor's (SimSiam only)


def _embed(backbone: nn.Module, neck: nn.Module,
           predictor: Optional[nn.Module], x: torch.Tensor) -> PeerOut:
    z = neck(backbone(x))
    p = None if predictor is None else predictor(z)[0]
    return PeerOut(F.normalize(z[0].float(), dim=1),
                   None if p is None else F.normalize(p.float(), dim=1))


class DoGoPeer(BaseModule):
    """The second peer: ``backbone`` + ``neck`` (+ ``predictor``); its
    ``forward`` gives a :class:`PeerOut`, so that a DDP wrapper around the
    peer (``MMSeparateDistributedDataParallel``) sees every forward."""

    def __init__(self, backbone: ModuleOrCfg, neck: ModuleOrCfg,
                 predictor: Optional[ModuleOrCfg] = None):
        super().__init__()
        self.backbone, self.neck = build(backbone), build(neck)
        self.predictor = None if predictor is None else build(predictor)

    def forward(self, x: torch.Tensor) -> PeerOut:
        return _embed(self.backbone, self.neck, self.predictor, x)


@MODELS.register_module()
class DoGo(Distiller):
    """Two peers trained together, each distilling the other's similarity.

    Model m (``m = 1, 2``) embeds its own two views, ``z'_m`` and
    ``z''_m`` (L2-normalised, rows = images).  With

        P^m = softmax_row(z'_m z''_m^T / tau_kd)        (B x B)

    the objectives are (Sec. 3 of the paper; the official code's
    weights ``criterion_weight[2:4]``)

        L_1 = NTXent(z'_1, z''_1) + lambda_1 KL(sg[P^2] || P^1)
        L_2 = NTXent(z'_2, z''_2) + lambda_2 KL(sg[P^1] || P^2)

    with NT-Xent at ``temperature`` (official: 0.5, hard-coded).  The
    KL reductions:

    * ``'mean'`` (official, ``F.kl_div``'s default): the mean over the
      ``B * B`` elements, i.e. the batch-mean KL divided by B.  Use it
      with the official ``lambdas=(100, 1)``.
    * ``'batchmean'``: the sum over each row's KL divided by B (the
      proper KL); ``lambda ~ 100 / B`` matches the official scale.

    The matrices are per rank (the official code runs ``DataParallel``: one
    B x B matrix over the whole batch); NT-Xent gathers its negatives from
    all ranks.

    **SimSiam peer.**  A peer with a ``predictor`` is a SimSiam model: its
    SSL loss is ``-(sg[z'] . p'' + sg[z''] . p') / 2`` (normalised
    vectors) and its own similarity matrix is that of its predictor
    outputs ``p``.  The target it distils from is the peer's ``p`` (the
    projector output ``z`` of a SimCLR peer), except when both peers are
    SimSiam: then each distils from the other's projector outputs ``z``.
    This is the official ``train_one_epoch``.

    **Baseline.**  ``model2=None`` trains the first peer alone with its SSL
    loss: the single-model SimCLR (or SimSiam) baseline with the same
    code, views and BN statistics.  Under the same seed the first peer
    starts from the same weights in both (the peer is built from a copy of
    the random state), so a comparison at equal iterations is paired.

    Inputs are two views per peer: views 0, 1 for model 1 and views 2, 3
    for model 2 (``MultiView(num_views=[2, 2], transforms=[aug1, aug2])``).
    Each view is a separate forward, so BatchNorm statistics are per view,
    as in the official ``model(x, y)``.

    Each peer has its own optimizer (:attr:`parts`: ``model1`` owns the
    losses ending ``_1``, ``model2`` those ending ``_2``), built by
    ``PartsOptimWrapperConstructor``; multi-GPU runs wrap the model with
    ``MMSeparateDistributedDataParallel`` (``model_wrapper_cfg``).

    Args:
        model1: ``dict(backbone=..., neck=..., predictor=None)`` of the first
            peer (the one evaluated; kept at ``self.backbone``, ``self.neck``
            and ``self.predictor``).
        model2: the same for the second peer (at ``self.peer``), or None for
            the single-model baseline.  Necks and predictors return a tuple
            whose first item is the (B, D) output, e.g. ``NonLinearNeck``.
        lambdas: ``(lambda_1, lambda_2)``, the KL weights of each peer.
        tau_kd: temperature of the similarity softmax (official 0.1).
        temperature: NT-Xent temperature (official 0.5).
        kd_reduction: ``'mean'`` or ``'batchmean'``, see above.
        data_preprocessor: defaults to ``SelfSupDataPreprocessor``.
        init_cfg: MMEngine init config.
    """

    def __init__(self,
                 model1: Dict[str, ModuleOrCfg],
                 model2: Optional[Dict[str, ModuleOrCfg]] = None,
                 lambdas: Tuple[float, float] = (100., 1.),
                 tau_kd: float = 0.1,
                 temperature: float = 0.5,
                 kd_reduction: str = 'mean',
                 data_preprocessor: Optional[ModuleOrCfg] = None,
                 init_cfg: Optional[Union[dict, List[dict]]] = None):
        if kd_reduction not in ('mean', 'batchmean'):
            raise ValueError(f"kd_reduction must be 'mean' or 'batchmean', "
                             f'got {kd_reduction!r}')
        super().__init__(backbone=model1['backbone'], neck=model1['neck'],
                         data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        predictor = model1.get('predictor')
        self.predictor = None if predictor is None else build(predictor)
        # the peer's construction draws from a copy of the RNG: the first
        # peer is initialised exactly as in its single-model baseline
        with paired_init():
            self.peer = None if model2 is None else DoGoPeer(**model2)
        self.lambdas = tuple(lambdas)
        self.tau_kd = tau_kd
        self.kd_reduction = kd_reduction
        self.ssl_criterion = NTXentLoss(temperature)

    @property
    def parts(self) -> Parts:
        nets = dict(backbone=Net(self.backbone, self.neck,
                                 dict(predictor=self.predictor)))
        optim = dict(model1=OptimPart(None, '_1'))
        if self.peer is not None:
            peer = bare(self.peer)
            nets['peer'] = Net(peer.backbone, peer.neck,
                               dict(predictor=peer.predictor))
            optim['model2'] = OptimPart('peer', '_2')
        return Parts(nets=nets, optim=optim)

    def kl_divergence(self, sim_own: torch.Tensor,
                      sim_peer: torch.Tensor) -> torch.Tensor:
        """``KL(sg[softmax(sim_peer / tau)] || softmax(sim_own / tau))`` of
        the (B, B) cosine similarities, summed, then divided as
        ``F.kl_div``'s ``kd_reduction`` does (``'mean'``: by the B * B
        elements, PyTorch's deprecated default; ``'batchmean'``: by B);
        fp32."""
        kl = F.kl_div(F.log_softmax(sim_own.float() / self.tau_kd, dim=1),
                      F.log_softmax(sim_peer.detach().float() / self.tau_kd,
                                    dim=1),
                      reduction='sum', log_target=True)
        return kl / (sim_own.numel() if self.kd_reduction == 'mean'
                     else len(sim_own))

    @staticmethod
    def simsiam_loss(out: List[PeerOut]) -> torch.Tensor:
        """SimSiam's symmetric negative cosine with stop-gradient on z."""
        (z1, p1), (z2, p2) = out
        return -((z1.detach() * p2).sum(1).mean() +
                 (z2.detach() * p1).sum(1).mean()) / 2

    def _outputs(self, m: int, views: List[torch.Tensor]) -> List[PeerOut]:
        """Peer ``m``'s outputs, one forward per view (BN per view)."""
        if m == 1:
            return [_embed(self.backbone, self.neck, self.predictor, x)
                    for x in views]
        return [self.peer(x) for x in views]

    def loss(self, inputs: List[torch.Tensor],
             data_samples: Optional[List[DataSample]] = None
             ) -> Dict[str, torch.Tensor]:
        """Both peers' losses from one forward.

        Returns ``loss_ssl_m`` and ``loss_kd_m`` (already weighted by
        ``lambda_m``) for ``m = 1, 2``; peer m's total is the sum of its
        two terms.  Without a second peer: ``loss_ssl_1`` only.
        """
        num_peers = 1 if self.peer is None else 2
        check_views(f'DoGo with {num_peers} peer(s)', inputs, 2 * num_peers,
                    f'MultiView(num_views={2 * num_peers}) (2 per peer)')
        outs = [self._outputs(m, inputs[2 * m - 2:2 * m])
                for m in range(1, num_peers + 1)]
        losses = {}
        for m, out in enumerate(outs, start=1):
            losses[f'loss_ssl_{m}'] = (
                self.ssl_criterion(out[0].z, out[1].z) if out[0].p is None
                else self.simsiam_loss(out))
        if len(outs) == 1:
            return losses
        both_simsiam = all(out[0].p is not None for out in outs)
        with torch.autocast(inputs[0].device.type, enabled=False):
            own = [[o.z if o.p is None else o.p for o in out] for out in outs]
            target = [[o.z for o in out] for out in outs] if both_simsiam \
                else own
            for m, (i, j) in enumerate([(0, 1), (1, 0)], start=1):
                sim_own = own[i][0] @ own[i][1].t()
                sim_peer = target[j][0].detach() @ target[j][1].detach().t()
                losses[f'loss_kd_{m}'] = self.lambdas[i] * self.kl_divergence(
                    sim_own, sim_peer)
        return losses
