"""MOKD: Multi-Mode Online Knowledge Distillation (Song et al., CVPR 2023,
arXiv 2304.06461), following the official code (``main_mokd.py``)."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModel, BaseModule, is_model_wrapper
from mmpretrain.structures import DataSample

from mmssl_kd.registry import MODELS
from ..losses import SimilarityDistillationLoss
from ..utils import multi_crop_forward
from .dino import ema_teacher
from .glsd import global_and_tokens
from .separate_steps import SeparateStepsMixin
from .views import check_multi_crop


def _unwrap(module: nn.Module) -> nn.Module:
    return module.module if is_model_wrapper(module) else module


def _field(outputs: List[Tuple[torch.Tensor, ...]], i: int
           ) -> List[torch.Tensor]:
    """Item ``i`` of every crop's :class:`MOKDNet` output."""
    return [out[i] for out in outputs]


class MOKDNet(BaseModule):
    """One of MOKD's models: ``backbone``, the DINO head ``neck`` on its
    global vector, and the T-Head ``head`` on its tokens.

    ``forward`` gives, per image, ``(h(global), t(tokens), tokens, query)``
    with the tokens embedded to the T-Head's width and the search query:
    the mean of those tokens (``query='mean'``, the CNN's avg-pooled 1x1
    conv output) or the global vector (``query='global'``, the ViT's
    [CLS]). Without a T-Head: ``(h(global), )``.
    """

    def __init__(self, backbone: nn.Module, neck: nn.Module,
                 head: Optional[nn.Module] = None, query: str = 'mean'):
        super().__init__()
        if query not in ('mean', 'global'):
            raise ValueError(f"query must be 'mean' or 'global', got "
                             f'{query!r}')
        self.backbone, self.neck, self.head = backbone, neck, head
        self.query = query

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        glob, tokens = global_and_tokens(self.backbone(x))
        if self.head is None:
            return (self.neck(glob), )
        logits, tokens = self.head(tokens)
        query = tokens.mean(dim=1) if self.query == 'mean' else glob
        return self.neck(glob), logits, tokens, query


@MODELS.register_module()
class MOKD(SeparateStepsMixin, BaseModel):
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
    CNN's two self-distillation losses and over ``vit_warmup_epochs`` (30)
    for the ViT's, both cross losses and the search.

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
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        if search and (cnn.get('head') is None or vit.get('head') is None):
            raise ValueError('MOKD search=True needs a T-Head (`head`) in '
                             'both models; set search=False without them.')
        self.backbone = MODELS.build(cnn['backbone'])
        self.neck = MODELS.build(cnn['neck'])
        vit_backbone = MODELS.build(vit['backbone'])
        vit_neck = MODELS.build(vit['neck'])
        # the T-Heads come from a copy of the RNG and after the other parts
        # (init order follows registration), so with one seed the backbones
        # and DINO heads start the same with or without them (ablations)
        with torch.random.fork_rng(devices=[]):
            heads = [MODELS.build(c['head']) if c.get('head') else None
                     for c in (cnn, vit)]
        self.peer = MOKDNet(vit_backbone, vit_neck, heads[1],
                            query='global')
        self.head = heads[0]
        self.teacher = ema_teacher(self._cnn(), base_momentum)
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

    def _cnn(self) -> MOKDNet:
        return MOKDNet(self.backbone, self.neck, self.head, query='mean')

    @property
    def optim_parts(self) -> Dict[str, Optional[str]]:
        """Optimizer key -> child module: the CNN is every child but the
        ViT (``peer``); for :class:`PartsOptimWrapperConstructor`."""
        return {'cnn': None, 'vit': 'peer'}

    def extract_feat(self, inputs: torch.Tensor):
        """Backbone features of the CNN."""
        return self.backbone(inputs)

    def search_target(self, teacher: nn.Module, tokens_g1: torch.Tensor,
                      queries: torch.Tensor) -> torch.Tensor:
        """The peer teacher's T-Head over its global-crop-1 tokens with each
        query prepended.

        Args:
            teacher: the peer's EMA teacher (:class:`CosineEMA` of a
                :class:`MOKDNet`).
            tokens_g1: (B, T, D) its embedded tokens of global crop 1.
            queries: (L * B, D) the student's queries of its L local crops,
                crop by crop (detached here).

        Returns:
            (L * B, K) logits, no gradient.
        """
        repeats = len(queries) // len(tokens_g1)
        with torch.no_grad():
            return teacher.module.head.attend(
                tokens_g1.repeat(repeats, 1, 1), query=queries.detach())

    def loss(self, inputs: List[torch.Tensor],
             data_samples: Optional[List[DataSample]] = None
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
            # the EMA reads parameter names, so the students without DDP
            self.teacher.update_parameters(MOKDNet(
                *map(_unwrap, (self.backbone, self.neck, self.head))))
            self.peer_teacher.update_parameters(_unwrap(self.peer))
            teachers = [multi_crop_forward(self.teacher, inputs[:g]),
                        multi_crop_forward(self.peer_teacher, inputs[:g])]
        students = [multi_crop_forward(self._cnn(), inputs),
                    multi_crop_forward(self.peer, inputs)]
        epoch_temp = self.losses['cross_1'].current_teacher_temp()
        self.search_loss.teacher_temp = epoch_temp
        losses = {}
        for m, (own, peer) in enumerate(((0, 1), (1, 0)), start=1):
            student, teacher, peer_teacher = (
                students[own], teachers[own], teachers[peer])
            losses[f'loss_mlp_{m}'] = self.losses[f'mlp_{m}'](
                _field(student, 0), _field(teacher, 0))
            if len(student[0]) > 1:  # the model has a T-Head
                losses[f'loss_thead_{m}'] = self.losses[f'thead_{m}'](
                    _field(student, 1), _field(teacher, 1))
            weight = self.lambdas[own]
            if weight:
                losses[f'loss_cross_{m}'] = weight * self.losses[
                    f'cross_{m}'](_field(student, 0), _field(peer_teacher, 0))
            if weight and self.search:
                queries = torch.cat(_field(student[g:], 3))
                target = self.search_target(
                    self.peer_teacher if own == 0 else self.teacher,
                    peer_teacher[0][2], queries)
                losses[f'loss_search_{m}'] = weight * self.search_loss(
                    torch.cat(_field(student[g:], 1)), target)
        losses['teacher_temp_1'] = torch.tensor(
            self.losses['mlp_1'].criterion.teacher_temp)
        losses['teacher_temp_2'] = torch.tensor(epoch_temp)
        return losses
