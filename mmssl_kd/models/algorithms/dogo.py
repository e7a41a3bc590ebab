"""DoGo: Distill on the Go (Bhat et al., CVPR-W 2021, arXiv 2104.09866).

Online mutual self-supervised distillation of two peers, following the
official code (NeurAI-Lab/DoGo, branch ``dogo``).
"""
from typing import Dict, List, NamedTuple, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel, BaseModule
from mmpretrain.structures import DataSample

from mmssl_kd.registry import MODELS
from ..losses import NTXentLoss, SimilarityDistillationLoss
from .separate_steps import SeparateStepsMixin
from .views import check_views

ModuleOrCfg = Union[dict, nn.Module]


def _build(cfg: ModuleOrCfg) -> nn.Module:
    return cfg if isinstance(cfg, nn.Module) else MODELS.build(cfg)


def _peer_forward(backbone: nn.Module, neck: nn.Module,
                  predictor: Optional[nn.Module], x: torch.Tensor
                  ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Projector output z and predictor output p (None without one)."""
    z = neck(backbone(x))
    p = None if predictor is None else predictor(z)[0]
    return z[0], p


class DoGoPeer(BaseModule):
    """The second peer: ``backbone`` + ``neck`` (+ ``predictor``).

    Its ``forward`` gives ``(z, p)``, so that a DDP wrapper around the peer
    (``MMSeparateDistributedDataParallel``) sees every forward.
    """

    def __init__(self, backbone: ModuleOrCfg, neck: ModuleOrCfg,
                 predictor: Optional[ModuleOrCfg] = None):
        super().__init__()
        self.backbone = _build(backbone)
        self.neck = _build(neck)
        self.predictor = None if predictor is None else _build(predictor)

    def forward(self, x: torch.Tensor
                ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """(B, 3, H, W) views -> projector and predictor outputs."""
        return _peer_forward(self.backbone, self.neck, self.predictor, x)


class _Outputs(NamedTuple):
    """A peer's L2-normalised outputs for its two views."""
    z: List[torch.Tensor]  # projector outputs
    p: Optional[List[torch.Tensor]]  # predictor outputs (SimSiam only)


@MODELS.register_module()
class DoGo(SeparateStepsMixin, BaseModel):
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

    The KL is computed as the soft cross-entropy of
    :class:`SimilarityDistillationLoss` minus the target's entropy.  The
    entropy has no gradient (the target is detached), so the gradient is
    exactly the official one and the logged ``loss_kd_m`` is the KL
    itself (times ``lambda_m``), not the cross-entropy.  The matrices are
    per rank (the official code runs ``DataParallel``: one B x B matrix
    over the whole batch); NT-Xent gathers its negatives from all ranks.

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

    Each peer has its own optimizer: :meth:`train_step` takes an
    ``OptimWrapperDict`` with the keys of :attr:`optim_parts`, computes
    both losses from one forward and steps each optimizer with its own
    peer's loss; the detached targets mean no gradient crosses between
    peers.  Configs build the dict with ``PartsOptimWrapperConstructor``;
    multi-GPU runs wrap the model with ``MMSeparateDistributedDataParallel``
    (``model_wrapper_cfg``), as GANs do.

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
        if data_preprocessor is None:
            data_preprocessor = dict(type='SelfSupDataPreprocessor')
        super().__init__(data_preprocessor=_build(data_preprocessor),
                         init_cfg=init_cfg)
        first = DoGoPeer(**model1)
        self.backbone = first.backbone
        self.neck = first.neck
        self.predictor = first.predictor
        # the peer's construction draws from a copy of the RNG: the first
        # peer is initialised exactly as in its single-model baseline
        with torch.random.fork_rng(devices=[]):
            self.peer = None if model2 is None else DoGoPeer(**model2)
        self.lambdas = tuple(lambdas)
        self.kd_reduction = kd_reduction
        self.ssl_criterion = NTXentLoss(temperature)
        self.kd_criterion = SimilarityDistillationLoss(
            student_temp=tau_kd, teacher_temp=tau_kd)

    @property
    def tau_kd(self) -> float:
        """Temperature of both similarity softmaxes."""
        return self.kd_criterion.student_temp

    @property
    def optim_parts(self) -> Dict[str, Optional[str]]:
        """Optimizer key -> child module (None: all but the named ones),
        for ``PartsOptimWrapperConstructor`` and :meth:`train_step`."""
        if self.peer is None:
            return {'model1': None}
        return {'model1': None, 'model2': 'peer'}

    def extract_feat(self, inputs: torch.Tensor) -> Tuple[torch.Tensor]:
        """Backbone features of the first peer."""
        return self.backbone(inputs)

    def kl_divergence(self, sim_own: torch.Tensor,
                      sim_peer: torch.Tensor) -> torch.Tensor:
        """``KL(sg[softmax(sim_peer / tau)] || softmax(sim_own / tau))``.

        Args:
            sim_own: (B, B) cosine similarities of this model's views.
            sim_peer: (B, B) those of the peer (detached here).

        Returns:
            The KL reduced by ``kd_reduction``; fp32.
        """
        cross_entropy = self.kd_criterion(sim_own, sim_peer)
        with torch.no_grad():
            target_logits = sim_peer.float() / self.tau_kd
            log_target = F.log_softmax(target_logits, dim=1)
            entropy = -(log_target.exp() * log_target).sum(1).mean()
        kl = cross_entropy - entropy  # the batch-mean KL
        if self.kd_reduction == 'mean':
            kl = kl / sim_own.shape[1]  # mean over B * B elements
        return kl

    @staticmethod
    def simsiam_loss(out: _Outputs) -> torch.Tensor:
        """SimSiam's symmetric negative cosine with stop-gradient on z."""
        (z1, z2), (p1, p2) = out.z, out.p
        return -((z1.detach() * p2).sum(1).mean() +
                 (z2.detach() * p1).sum(1).mean()) / 2

    def _outputs(self, m: int, inputs: List[torch.Tensor]) -> _Outputs:
        """Peer ``m``'s outputs, one forward per view (BN per view)."""
        if m == 1:
            outs = [_peer_forward(self.backbone, self.neck, self.predictor, x)
                    for x in inputs]
        else:
            outs = [self.peer(x) for x in inputs]
        zs = [F.normalize(z.float(), dim=1) for z, _ in outs]
        if outs[0][1] is None:
            return _Outputs(zs, None)
        return _Outputs(zs, [F.normalize(p.float(), dim=1) for _, p in outs])

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
            losses[f'loss_ssl_{m}'] = (self.ssl_criterion(*out.z)
                                       if out.p is None else
                                       self.simsiam_loss(out))
        if len(outs) == 1:
            return losses
        both_simsiam = all(out.p is not None for out in outs)
        with torch.autocast(inputs[0].device.type, enabled=False):
            own = [out.z if out.p is None else out.p for out in outs]
            target = [out.z for out in outs] if both_simsiam else own
            for m, (i, j) in enumerate([(0, 1), (1, 0)], start=1):
                sim_own = own[i][0] @ own[i][1].t()
                sim_peer = target[j][0].detach() @ target[j][1].detach().t()
                losses[f'loss_kd_{m}'] = self.lambdas[i] * self.kl_divergence(
                    sim_own, sim_peer)
        return losses
