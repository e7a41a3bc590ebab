"""SEED: Self-supervised Distillation for Visual Representation.

Fang et al., ICLR 2021 (arXiv 2101.04731), following the official code
(jacobswan1/SEED, ``seed/builder.py`` and ``seed/small_patch_builder.py``).
"""
from typing import Dict, List, Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dist import get_world_size
from mmpretrain.structures import DataSample

from mmssl_kd.registry import MODELS
from ..losses import SimilarityDistillationLoss
from ..utils import FeatureQueue, build
from .base import Distiller, Net, Parts
from .views import check_views

ModuleOrCfg = Union[dict, nn.Module]


@MODELS.register_module()
class SEED(Distiller):
    """SEED: distil a frozen teacher's similarity distribution over a queue.

    The same augmented view goes to the student (``backbone`` + ``neck``)
    and to the teacher.  With L2-normalised embeddings ``z^S``, ``z^T`` and
    a queue ``Q`` of earlier teacher embeddings, both networks score the
    anchors ``D+ = [z^T, Q]`` and the student matches the teacher's softmax
    (see :class:`SimilarityDistillationLoss`, the paper's L_SEED).  The
    teacher's embeddings are enqueued after the logits, so the current
    batch is not among its own anchors.

    Small-patch variant (``main_small-patch.py``): ``inputs`` is one large
    crop followed by ``num_small_crops`` small crops (``MultiView(
    num_views=[1, 6], ...)``).  Each small crop goes to both networks and
    is scored against a second queue of the same length; only the teacher
    embeddings of the FIRST small crop are enqueued there.  The official
    loss is ``soft_ce(large) + soft_ce(small)`` where the small term
    averages over all ``B * num_small_crops`` rows, i.e. the mean over the
    small crops (no factor ``num_small_crops``); this class does the same.

    The teacher must stay out of the optimizer.  SEED sets its
    ``requires_grad`` to False, runs it under ``no_grad`` and keeps it in
    eval mode through ``model.train()``, but MMEngine's default optimizer
    constructor still puts ``requires_grad=False`` parameters in its
    groups.  The project's ``DefaultOptimWrapperConstructor`` (the
    default under ``default_scope = 'mmssl_kd'``) leaves out every
    ``FrozenTeacher``: so the teacher
    should be a ``FrozenTeacher``.  Another module would sit in the
    optimizer's groups, never receiving a gradient.  The queues are
    buffers, equal on every rank: like the official code, DDP runs may use
    ``broadcast_buffers=False`` to save broadcasting them each step.

    Args:
        backbone: student encoder config (kept at ``self.backbone``).
        neck: student head, e.g. ``MoCoV2Neck(in_channels=d,
            hid_channels=d, out_channels=128)`` (Linear-ReLU-Linear).
        teacher: teacher config or module; ``forward(x)`` returns the
            (B, D) embedding, unnormalised (e.g. ``FrozenTeacher``).
        queue_len: queue length K (official 65536).
        student_temp: tau_S (official 0.2).
        teacher_temp: tau_T (official 1e-4).
        small_patch: use the small-patch variant.
        num_small_crops: small crops per image (official 6).
        data_preprocessor: MMPretrain data preprocessor config.
        init_cfg: MMEngine init config.
    """

    def __init__(self,
                 backbone: ModuleOrCfg,
                 neck: ModuleOrCfg,
                 teacher: ModuleOrCfg,
                 queue_len: int = 65536,
                 student_temp: float = 0.2,
                 teacher_temp: float = 1e-4,
                 small_patch: bool = False,
                 num_small_crops: int = 6,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[dict, List[dict]]] = None):
        super().__init__(backbone=backbone, neck=neck,
                         data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.teacher = build(teacher).requires_grad_(False).eval()
        dim = self._embedding_size()
        self.criterion = SimilarityDistillationLoss(
            student_temp=student_temp, teacher_temp=teacher_temp)
        self.queue = FeatureQueue(dim, queue_len)
        self.small_patch = small_patch
        self.num_small_crops = num_small_crops
        if small_patch:
            self.small_queue = FeatureQueue(dim, queue_len)

    @property
    def parts(self) -> Parts:
        return Parts(nets=dict(
            backbone=Net(self.backbone, self.neck),
            teacher=Net(getattr(self.teacher, 'backbone', self.teacher),
                        getattr(self.teacher, 'neck', None))))

    @torch.no_grad()
    def _embedding_size(self) -> int:
        """Embedding size, checked equal for student and teacher."""
        training = self.training
        self.eval()
        x = torch.zeros(2, 3, 32, 32)
        student = self.neck(self.backbone(x))[0].shape[-1]
        # FrozenTeacher measured it at its own input size
        teacher = getattr(self.teacher, 'embed_dim', None) or \
            self.teacher(x).shape[-1]
        self.train(training)
        if student != teacher:
            raise ValueError(
                f'SEED needs equal embedding sizes: the student head gives '
                f'{student}, the teacher gives {teacher}. Set the student '
                f"neck's out_channels (model.neck) to {teacher}, or give the "
                f'teacher a neck (model.teacher.neck) that projects to '
                f'{student}.')
        return student

    def train(self, mode: bool = True) -> 'SEED':
        """Set the mode of the student; the teacher stays in eval mode."""
        super().train(mode)
        self.teacher.eval()
        return self

    @torch.no_grad()
    def _teacher_embed(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.teacher(x).float(), dim=1)

    def _student_embed(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.neck(self.backbone(x))[0].float(), dim=1)

    def _seed_loss(self, z_s: torch.Tensor, z_t: torch.Tensor,
                   queue: FeatureQueue) -> torch.Tensor:
        """L_SEED over the anchors [z_T, queue], logits in fp32."""
        with torch.autocast(z_s.device.type, enabled=False):
            anchors = queue.queue.clone()  # enqueue later writes in place
            student = torch.cat([(z_s * z_t).sum(1, keepdim=True),
                                 z_s @ anchors.t()], dim=1)
            teacher = torch.cat([(z_t * z_t).sum(1, keepdim=True),
                                 z_t @ anchors.t()], dim=1)
        return self.criterion(student, teacher)

    def _check_queue(self, batch: int) -> None:
        """A queue must hold a whole global batch: each step writes one,
        and a shorter queue would keep only part of the batch as anchors
        (the official code asserts ``K % global batch == 0``; any
        ``K >= global batch`` works here)."""
        world = get_world_size()
        if self.queue.length < batch * world:
            raise ValueError(
                f'SEED queue_len={self.queue.length} is shorter than the '
                f'global batch {batch * world} (batch {batch} per process x '
                f'{world} process(es)). Set model.queue_len >= '
                f'{batch * world} (the paper uses 65536), or lower '
                'train_dataloader.batch_size.')

    def loss(self, inputs: List[torch.Tensor],
             data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        """One SEED step.

        Returns ``loss``; in the small-patch case also ``distill_large``
        and ``distill_small`` (detached, logged only: their sum is
        ``loss``, and mmengine sums only keys containing ``'loss'``).
        """
        small = self.num_small_crops if self.small_patch else 0
        check_views(f'SEED (small_patch={self.small_patch})', inputs,
                    1 + small, f'MultiView(num_views=[1, {small}])' if small
                    else 'MultiView(num_views=1)')
        image = inputs[0]  # the same view for teacher and student
        self._check_queue(len(image))
        z_t = self._teacher_embed(image)
        z_s = self._student_embed(image)
        loss = self._seed_loss(z_s, z_t, self.queue)
        losses = dict(loss=loss)
        if self.small_patch:
            # crop-major rows: crop 0 of every image, then crop 1, ...
            small = torch.cat(inputs[1:], dim=0)
            z_t_small = self._teacher_embed(small)
            z_s_small = self._student_embed(small)
            loss_small = self._seed_loss(z_s_small, z_t_small,
                                         self.small_queue)
            losses = dict(loss=loss + loss_small,
                          distill_large=loss.detach(),
                          distill_small=loss_small.detach())
            # the official code enqueues the first small crop only
            self.small_queue.enqueue(z_t_small[:image.shape[0]])
        # after the logits, so a batch is never among its own anchors
        self.queue.enqueue(z_t)
        return losses
