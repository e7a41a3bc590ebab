"""Dense distillation of a frozen teacher's feature maps, alone or with
SEED's global objective: a small student learns both what the teacher's
embedding says of the image (classification) and what its features say of
each place (detection, segmentation)."""
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample

from mmssl_kd.registry import MODELS
from ..teachers import FrozenTeacher
from ..utils import build, paired_init
from .base import Net, Parts
from .seed import SEED
from .views import check_views


@MODELS.register_module()
class DenseDistill(SEED):
    """``L = global_weight * L_SEED + dense_weight * L_dense`` on one view
    seen by student and teacher.

    ``L_SEED`` is :class:`SEED`'s similarity-distribution loss over the
    queue (student ``backbone`` + ``neck``, the teacher's embedding);
    ``L_dense`` is :class:`DenseFeatureLoss` between the student's last
    feature map through ``dense_neck`` (e.g. :class:`DenseProjector`, to
    the teacher's width) and the teacher backbone's last feature map
    (:meth:`FrozenTeacher.forward_features`; its last 4-D output), at the
    teacher's grid.
    ``global_weight=0`` is dense-only: the global head is frozen (no
    gradient) and the queue unused; ``dense_weight=0`` is SEED (the dense
    head frozen and unused).

    Args:
        backbone, neck, teacher: as :class:`SEED`; the teacher a
            :class:`FrozenTeacher` whose backbone's last output is a
            (B, C, h, w) map.
        dense_neck: the student's dense head (built from a copy of the
            random state: the rest starts as in SEED with the same seed).
        dense_loss: the :class:`DenseFeatureLoss` config.
        global_weight, dense_weight: the weights of the two terms.
        **kwargs: SEED's other arguments (``queue_len``, temperatures;
            no ``small_patch``).
    """

    def __init__(self, backbone: dict, neck: dict, teacher: dict,
                 dense_neck: dict,
                 dense_loss: Optional[dict] = None,
                 global_weight: float = 1.0, dense_weight: float = 1.0,
                 **kwargs):
        if kwargs.get('small_patch'):
            raise ValueError('DenseDistill takes one view: small_patch is '
                             "SEED's only.")
        if global_weight < 0 or dense_weight < 0 or not (
                global_weight or dense_weight):
            raise ValueError(
                'DenseDistill needs non-negative weights, not both 0; got '
                f'global_weight={global_weight}, dense_weight={dense_weight}')
        super().__init__(backbone=backbone, neck=neck, teacher=teacher,
                         **kwargs)
        if not isinstance(self.teacher, FrozenTeacher):
            raise TypeError('DenseDistill needs a FrozenTeacher (its feature '
                            f'maps), got {type(self.teacher).__name__}')
        with paired_init():
            self.dense_neck = build(dense_neck)
        self.dense_loss = MODELS.build(dense_loss or
                                       dict(type='DenseFeatureLoss'))
        self.global_weight = global_weight
        self.dense_weight = dense_weight
        if not global_weight:
            self.neck.requires_grad_(False)
        if not dense_weight:  # DDP: no parameter that gets no gradient
            self.dense_neck.requires_grad_(False)

    @property
    def parts(self) -> Parts:
        parts = super().parts
        student = parts.nets['backbone']
        parts.nets['backbone'] = Net(student.backbone, student.neck,
                                     dict(dense_neck=self.dense_neck))
        return parts

    @staticmethod
    def _last_map(features, who: str) -> torch.Tensor:
        """The last (B, C, h, w) map among a backbone's outputs (a
        ``FoundationViT`` teacher may give ``('map', 'cls')``)."""
        outs = features if isinstance(features, (tuple, list)) \
            else (features, )
        maps = [out for out in outs if out.dim() == 4]
        if not maps:
            raise ValueError(
                f'DenseDistill needs a (B, C, h, w) feature map among the '
                f'{who} backbone\'s outputs, got shapes '
                f'{[tuple(o.shape) for o in outs]} (a FoundationViT teacher: '
                "outputs=('map', 'cls')).")
        return maps[-1]

    def loss(self, inputs: List[torch.Tensor],
             data_samples: Optional[List[DataSample]] = None
             ) -> Dict[str, torch.Tensor]:
        """``loss_global`` (if weighted) and ``loss_dense``, weighted."""
        check_views('DenseDistill', inputs, 1, 'MultiView(num_views=1)')
        image = inputs[0]  # the same view for teacher and student
        teacher = self.teacher.forward_features(image)
        student = self.backbone(image)
        losses = {}
        if self.global_weight:
            self._check_queue(len(image))
            z_t = F.normalize(self.teacher.forward_head(teacher).float(),
                              dim=1)
            z_s = F.normalize(self.neck(student)[0].float(), dim=1)
            losses['loss_global'] = self.global_weight * self._seed_loss(
                z_s, z_t, self.queue)
            self.queue.enqueue(z_t)  # after the logits, as SEED
        if self.dense_weight:
            losses['loss_dense'] = self.dense_weight * self.dense_loss(
                self.dense_neck(self._last_map(student, 'student')),
                self._last_map(teacher, 'teacher'))
        return losses
