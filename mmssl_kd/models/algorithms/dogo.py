"""DoGo: Distill on the Go (Bhat et al., CVPR-W 2021, arXiv 2104.09866).

Online mutual self-supervised distillation of two peers, following the
official code (NeurAI-Lab/DoGo, branch ``dogo``).
"""
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel, BaseModule
from mmengine.optim import OptimWrapperDict
from mmpretrain.structures import DataSample

from mmssl_kd.registry import MODELS
from ..losses import NTXentLoss, SimilarityDistillationLoss

ModuleOrCfg = Union[dict, nn.Module]
OPTIM_KEYS = ('model1', 'model2')


def _build(cfg: ModuleOrCfg) -> nn.Module:
    return cfg if isinstance(cfg, nn.Module) else MODELS.build(cfg)


class DoGoPeer(BaseModule):
    """The second peer: ``backbone`` + ``neck``, like the first."""

    def __init__(self, backbone: ModuleOrCfg, neck: ModuleOrCfg):
        super().__init__()
        self.backbone = _build(backbone)
        self.neck = _build(neck)


@MODELS.register_module()
class DoGo(BaseModel):
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

    Inputs are four views per image: views 0, 1 for model 1 and views 2, 3
    for model 2 (``MultiView(num_views=[2, 2], transforms=[aug1, aug2])``).

    Each peer has its own optimizer: :meth:`train_step` takes an
    ``OptimWrapperDict`` with keys ``'model1'`` (parameters of
    ``backbone`` and ``neck``) and ``'model2'`` (parameters of ``peer``),
    computes both losses from one forward and steps each optimizer with
    its own peer's loss.  The detached targets mean no gradient crosses
    between peers.  A runner config therefore needs an optimizer wrapper
    constructor that builds this dict (MMEngine's default path wants one
    sub-module per key); for multi-GPU, wrap with
    ``MMSeparateDistributedDataParallel``, as GANs do.

    Args:
        model1: ``dict(backbone=..., neck=...)`` of the first peer (the
            one evaluated; kept at ``self.backbone`` / ``self.neck``).
        model2: ``dict(backbone=..., neck=...)`` of the second peer (at
            ``self.peer``).  Necks return a tuple whose first item is the
            (B, D) embedding, e.g. ``NonLinearNeck``.
        lambdas: ``(lambda_1, lambda_2)``, the KL weights of each peer.
        tau_kd: temperature of the similarity softmax (official 0.1).
        temperature: NT-Xent temperature (official 0.5).
        kd_reduction: ``'mean'`` or ``'batchmean'``, see above.
        data_preprocessor: defaults to ``SelfSupDataPreprocessor``.
        init_cfg: MMEngine init config.
    """

    def __init__(self,
                 model1: Dict[str, ModuleOrCfg],
                 model2: Dict[str, ModuleOrCfg],
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
        self.backbone = _build(model1['backbone'])
        self.neck = _build(model1['neck'])
        self.peer = DoGoPeer(**model2)
        self.lambdas = tuple(lambdas)
        self.kd_reduction = kd_reduction
        self.ssl_criterion = NTXentLoss(temperature)
        self.kd_criterion = SimilarityDistillationLoss(
            student_temp=tau_kd, teacher_temp=tau_kd)

    @property
    def tau_kd(self) -> float:
        """Temperature of both similarity softmaxes."""
        return self.kd_criterion.student_temp

    def extract_feat(self, inputs: torch.Tensor) -> Tuple[torch.Tensor]:
        """Backbone features of the first peer."""
        return self.backbone(inputs)

    def forward(self, inputs: Union[torch.Tensor, List[torch.Tensor]],
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'):
        """``'tensor'``: :meth:`extract_feat`; ``'loss'``: :meth:`loss`."""
        if mode == 'tensor':
            return self.extract_feat(inputs)
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        raise RuntimeError(f'DoGo has no mode {mode!r}')

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

    def _embed(self, backbone: nn.Module, neck: nn.Module,
               x: torch.Tensor) -> torch.Tensor:
        return F.normalize(neck(backbone(x))[0].float(), dim=1)

    def loss(self, inputs: List[torch.Tensor],
             data_samples: Optional[List[DataSample]] = None
             ) -> Dict[str, torch.Tensor]:
        """Both peers' losses from one forward.

        Returns ``loss_ssl_m`` and ``loss_kd_m`` (already weighted by
        ``lambda_m``) for ``m = 1, 2``; peer m's total is the sum of its
        two terms.
        """
        if len(inputs) != 4:
            raise ValueError(f'DoGo expects 4 views per image (2 per '
                             f'peer), got {len(inputs)}')
        # one forward per view: BN statistics per view, as a
        # ``model(x_i, x_j)`` SimCLR forward has them
        views = [[self._embed(self.backbone, self.neck, x)
                  for x in inputs[:2]],
                 [self._embed(self.peer.backbone, self.peer.neck, x)
                  for x in inputs[2:]]]
        with torch.autocast(inputs[0].device.type, enabled=False):
            sims = [a @ b.t() for a, b in views]
        losses = {}
        for m, (own, peer) in enumerate([(0, 1), (1, 0)], start=1):
            losses[f'loss_ssl_{m}'] = self.ssl_criterion(*views[own])
            losses[f'loss_kd_{m}'] = self.lambdas[own] * self.kl_divergence(
                sims[own], sims[peer].detach())
        return losses

    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper: OptimWrapperDict
                   ) -> Dict[str, torch.Tensor]:
        """One forward, then each optimizer steps on its own peer's loss.

        Args:
            data: a batch from the dataloader.
            optim_wrapper: ``OptimWrapperDict(model1=..., model2=...)``.

        Returns:
            The log variables: ``loss_1``, ``loss_2`` (the peers' totals)
            and every term of :meth:`loss`.
        """
        wrappers = [optim_wrapper[key] for key in OPTIM_KEYS]
        with wrappers[0].optim_context(self), \
                wrappers[1].optim_context(self):
            data = self.data_preprocessor(data, True)
            losses = self._run_forward(data, mode='loss')
        log_vars = {}
        for m, wrapper in enumerate(wrappers, start=1):
            total, peer_vars = self.parse_losses(
                {k: v for k, v in losses.items() if k.endswith(f'_{m}')})
            peer_vars[f'loss_{m}'] = peer_vars.pop('loss')
            log_vars.update(peer_vars)
            wrapper.update_params(total)
        return log_vars
