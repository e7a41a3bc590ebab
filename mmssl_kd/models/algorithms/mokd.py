"""MOKD: Multi-Mode Online Knowledge Distillation (Song et al., CVPR 2023,
arXiv 2304.06461), following the official code (``main_mokd.py``)."""
from typing import Dict, List, NamedTuple, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.structures import DataSample

from mmssl_kd.registry import MODELS
from ..losses import SimilarityDistillationLoss
from ..utils import (
    bare,
    ema_teacher,
    global_and_tokens,
    multi_crop_forward,
    paired_init,
)
from .base import Distiller, Net, OptimPart, Parts
from .views import check_multi_crop


class MOKDOut(NamedTuple):
    """One of MOKD's models' outputs for a batch of crops."""
    logits: torch.Tensor  # (B, K) the DINO head on the global vector
    thead: Optional[torch.Tensor] = None  # (B, K) the T-Head's logits
    tokens: Optional[torch.Tensor] = None  # (B, T, D) tokens at its width
    query: Optional[torch.Tensor] = None  # (B, D) the search query


class MOKDNet(BaseModule):
    """One of MOKD's models: ``backbone``, the DINO head ``neck`` on its
    global vector, and the T-Head ``head`` on its tokens, giving a
    :class:`MOKDOut`: the tokens embedded to the T-Head's width and the
    search query, the mean of those tokens (``query='mean'``, the CNN's
    avg-pooled 1x1 conv output) or the global vector (``query='global'``,
    the ViT's [CLS]). Without a T-Head only ``logits``.
    """

    def __init__(self, backbone: nn.Module, neck: nn.Module,
                 head: Optional[nn.Module] = None, query: str = 'mean'):
        super().__init__()
        if query not in ('mean', 'global'):
            raise ValueError(f"query must be 'mean' or 'global', got "
                             f'{query!r}')
        self.backbone, self.neck, self.head = backbone, neck, head
        self.query = query

    def forward(self, x: torch.Tensor) -> MOKDOut:
        glob, tokens = global_and_tokens(self.backbone(x))
        if self.head is None:
            return MOKDOut(self.neck(glob))
        thead, tokens = self.head(tokens)
        query = tokens.mean(dim=1) if self.query == 'mean' else glob
        return MOKDOut(self.neck(glob), thead, tokens, query)


@MODELS.register_module()
class MOKD(Distiller):
    """A CNN (``backbone`` + ``neck`` + ``head``) and a ViT (``peer``) learn
    together, each from its own EMA teacher and from the other's.

    For model m with peer m' (Eq. 1-5; the official ``main_mokd.py``):

        L_m = D(h_m, h'_m) + D(t_m, t'_m)
              + lambda_m [D(h_m, h'_m') + CE(t'_m'([sg(q_m(loc)); P'_m'(g1)]),
                                             t_m(loc))]

    ``D`` is DINO's loss (each of the six with its own centre), ``h`` the
    DINO heads, ``t`` the T-Heads, primes the EMA teachers (global crops
    only). The last term is the **cross-attention feature search**: the
    student's detached query of each local crop is prepended to the peer
    teacher's embedded tokens of global crop 1 and passed through the peer
    teacher's T-Head (query dropped, tokens averaged); its softmax at the
    teacher temperature, not centred, is the target of the student's T-Head
    on that crop.

    Teacher temperatures warm up over ``cnn_warmup_epochs`` (50) for the
    CNN's two self-distillation losses (``teacher_temp_1``) and over
    ``vit_warmup_epochs`` (30) for the ViT's, both cross losses and the
    search (``teacher_temp_2``).

    Ablations: ``lambdas=(0, 0)`` and no T-Heads (``head=None`` in both
    models) are two independent DINOs; ``search=False`` drops the search
    term.

    Args:
        cnn: ``dict(backbone, neck, head)`` of the CNN (``head`` a
            :class:`TransformerHead` with a projection, or None).
        vit: the same for the ViT (``out_type='raw'``), its T-Head without
            projection (``in_channels == embed_dims``).
        loss: the :class:`DINOLoss` settings shared by the six losses
            (``warmup_epochs`` is set per loss from the two below).
        lambdas: the cross weights (lambda_CNN, lambda_ViT); the paper's
            command uses (1.0, 0.1).
        search: use the T-Head search term.
        base_momentum: both teachers' EMA momentum at the start in
            MMEngine's convention (``1 - 0.996``), cosine to 0.
        num_global_crops: the crops the teachers see (2).
    """

    def __init__(self, cnn: dict, vit: dict, loss: dict,
                 cnn_warmup_epochs: int = 50, vit_warmup_epochs: int = 30,
                 lambdas: Sequence[float] = (1.0, 0.1), search: bool = True,
                 base_momentum: float = 0.004, num_global_crops: int = 2,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None):
        if search and (cnn.get('head') is None or vit.get('head') is None):
            raise ValueError('MOKD search=True needs a T-Head (`head`) in '
                             'both models; set search=False without them.')
        super().__init__(backbone=cnn['backbone'], neck=cnn['neck'],
                         data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        vit_backbone = MODELS.build(vit['backbone'])
        vit_neck = MODELS.build(vit['neck'])
        # the T-Heads come from a copy of the RNG and after the other parts
        # (init order follows registration), so with one seed the backbones
        # and DINO heads start the same with or without them (ablations)
        with paired_init():
            heads = [MODELS.build(c['head']) if c.get('head') else None
                     for c in (cnn, vit)]
        self.peer = MOKDNet(vit_backbone, vit_neck, heads[1],
                            query='global')
        self.head = heads[0]
        self.teacher = ema_teacher(self.cnn(), base_momentum)
        self.peer_teacher = ema_teacher(self.peer, base_momentum)
        self.lambdas = tuple(lambdas)
        self.search = search
        self.num_global_crops = num_global_crops
        warmups = dict(mlp_1=cnn_warmup_epochs, thead_1=cnn_warmup_epochs,
                       cross_1=vit_warmup_epochs, mlp_2=vit_warmup_epochs,
                       thead_2=vit_warmup_epochs, cross_2=vit_warmup_epochs)
        self.losses = nn.ModuleDict({
            name: MODELS.build(dict(loss, warmup_epochs=epochs))
            for name, epochs in warmups.items()})
        self.search_loss = SimilarityDistillationLoss(
            student_temp=self.losses['cross_1'].criterion.student_temp)

    def cnn(self, wrapped: bool = True) -> MOKDNet:
        """The CNN student; ``wrapped=False`` without its parts' DDP
        wrappers (the EMA reads parameter names)."""
        parts = (self.backbone, self.neck, self.head)
        return MOKDNet(*(parts if wrapped else map(bare, parts)),
                       query='mean')

    @property
    def parts(self) -> Parts:
        cnn_t, vit_t, vit = (self.teacher.module, self.peer_teacher.module,
                             bare(self.peer))
        nets = dict(backbone=self.cnn(wrapped=False), peer=vit,
                    teacher=cnn_t, peer_teacher=vit_t)
        return Parts(
            nets={name: Net(net.backbone, net.neck, dict(head=net.head))
                  for name, net in nets.items()},
            ema=dict(teacher=lambda: self.cnn(wrapped=False),
                     peer_teacher=lambda: bare(self.peer)),
            optim=dict(cnn=OptimPart(None, '_1'),
                       vit=OptimPart('peer', '_2')))

    def schedules(self, iteration: int, epoch: int,
                  max_iters: Optional[int]) -> Dict[str, float]:
        """The teacher temperatures of the CNN's self-distillation
        (``_1``) and of every other term (``_2``): linear warm-ups."""
        return dict(
            teacher_temp_1=self.losses['mlp_1'].teacher_temp_at(epoch),
            teacher_temp_2=self.losses['cross_1'].teacher_temp_at(epoch))

    def search_target(self, teacher: nn.Module, tokens_g1: torch.Tensor,
                      queries: torch.Tensor) -> torch.Tensor:
        """(L * B, K) logits, no gradient: the peer ``teacher``'s T-Head
        over its (B, T, D) tokens of global crop 1 with each of the
        student's (L * B, D) queries of its L local crops prepended."""
        repeats = len(queries) // len(tokens_g1)
        with torch.no_grad():
            return teacher.module.head.attend(
                tokens_g1.repeat(repeats, 1, 1), query=queries.detach())

    def loss(self, inputs: List[torch.Tensor],
             data_samples: Optional[List[DataSample]] = None, *,
             teacher_temp_1: float, teacher_temp_2: float
             ) -> Dict[str, torch.Tensor]:
        """Both models' losses from one forward of each network.

        Returns ``loss_mlp_m``, ``loss_thead_m`` (self-distillation),
        ``loss_cross_m`` and ``loss_search_m`` (already weighted by
        ``lambda_m``) for m = 1 (CNN), 2 (ViT); model m's total is the sum
        of its terms. Terms a configuration leaves out are absent.
        """
        g = self.num_global_crops
        check_multi_crop('MOKD', inputs, g)
        with torch.no_grad():
            teachers = [multi_crop_forward(self.teacher, inputs[:g]),
                        multi_crop_forward(self.peer_teacher, inputs[:g])]
        students = [multi_crop_forward(self.cnn(), inputs),
                    multi_crop_forward(self.peer, inputs)]
        temps = dict(mlp_1=teacher_temp_1, thead_1=teacher_temp_1)
        losses = {}
        for m, (own, peer) in enumerate(((0, 1), (1, 0)), start=1):
            student, teacher, peer_teacher = (
                students[own], teachers[own], teachers[peer])

            def dino(term: str, field: str, target: List[MOKDOut]):
                name = f'{term}_{m}'
                return self.losses[name](
                    [getattr(o, field) for o in student],
                    [getattr(o, field) for o in target],
                    temps.get(name, teacher_temp_2))

            losses[f'loss_mlp_{m}'] = dino('mlp', 'logits', teacher)
            if student[0].thead is not None:
                losses[f'loss_thead_{m}'] = dino('thead', 'thead', teacher)
            weight = self.lambdas[own]
            if weight:
                losses[f'loss_cross_{m}'] = weight * dino(
                    'cross', 'logits', peer_teacher)
            if weight and self.search:
                local = student[g:]
                target = self.search_target(
                    self.peer_teacher if own == 0 else self.teacher,
                    peer_teacher[0].tokens,
                    torch.cat([o.query for o in local]))
                losses[f'loss_search_{m}'] = weight * self.search_loss(
                    torch.cat([o.thead for o in local]), target,
                    teacher_temp=teacher_temp_2)
        return losses
