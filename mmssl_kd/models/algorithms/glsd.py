"""Global-Local Self-Distillation (Lebailly and Tuytelaars, WACV 2023):
DINO plus a region loss between the tokens of different views, matched by
where they lie in the original image."""
from typing import Dict, List, NamedTuple, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from mmpretrain.structures import DataSample

from mmssl_kd.registry import MODELS
from ..losses import crop_pairs
from ..utils import (
    geometric_match,
    global_and_tokens,
    multi_crop_forward,
    paired_init,
    similarity_match,
    token_centres,
)
from .base import Net, Parts
from .dino import DINO
from .views import check_multi_crop


class GlobalLocalOut(NamedTuple):
    """One side's outputs for a batch of crops."""
    glob: torch.Tensor  # (B, K) the global head on the global vector
    dense: Optional[torch.Tensor]  # (B, T, K') the dense head per token
    tokens: torch.Tensor  # (B, T, C) the backbone's region tokens


class GlobalLocalNet(nn.Module):
    """Backbone and heads of one side (student or teacher), giving a
    :class:`GlobalLocalOut` (``dense`` None without a dense head). Holds
    references, not copies."""

    def __init__(self, backbone: nn.Module, neck: nn.Module,
                 dense_neck: Optional[nn.Module]):
        super().__init__()
        self.backbone, self.neck, self.dense_neck = backbone, neck, dense_neck

    def forward(self, x: torch.Tensor) -> GlobalLocalOut:
        glob, tokens = global_and_tokens(self.backbone(x))
        dense = None if self.dense_neck is None else self.dense_neck(tokens)
        return GlobalLocalOut(self.neck(glob), dense, tokens)


@MODELS.register_module()
class GLSD(DINO):
    """The student (``backbone``, ``neck`` = DINO head on the global
    vector, ``dense_neck`` = a second DINO head on every region token) and
    its EMA teacher, which sees the global crops only.

    ``loss = global_weight * L_glob + local_weight * L_reg`` (Sec. 3), with
    ``L_glob`` the :class:`DINOLoss` and ``L_reg`` the
    :class:`LocalDINOLoss` over the same (teacher global, other view)
    pairs; the paper uses 0.5 and 0.5. ``local_weight=0`` (and no dense
    head) is plain DINO on the same backbone and crops.

    Region tokens are matched per view pair by ``matching``:
    ``'geometric'`` (the paper's): the teacher token whose cell centre in
    the original image is nearest; with ``hinge``, pairs whose squared
    distance is not below the larger squared half-diagonal of the two cells
    are masked (needs the crops' ``crop_boxes`` and ``crop_flips`` from
    :class:`MultiViewWithBoxes`). ``'similarity'`` (EsViT's baseline): the
    teacher token with the highest cosine similarity, no mask.

    Args:
        backbone: returns a feature map or a [CLS]-first token sequence
            (see :func:`global_and_tokens`).
        neck, loss: the global :class:`DINOHead` and :class:`DINOLoss`.
        dense_neck: the region :class:`DINOHead` (None when
            ``local_weight`` is 0).
        local_loss: the :class:`LocalDINOLoss` (its own centre).
        matching: ``'geometric'`` or ``'similarity'``.
        hinge: mask distant geometric pairs (official default True).
        downsampling_rate: input pixels per token (the ViT patch size; 32
            for Swin-T); a crop of H x W gives an (H / r) x (W / r) grid.
        global_weight, local_weight: the weights of the two terms.
        base_momentum, num_global_crops: as :class:`DINO`.
    """

    def __init__(self, backbone: dict, neck: dict, loss: dict,
                 dense_neck: Optional[dict] = None,
                 local_loss: Optional[dict] = None,
                 matching: str = 'geometric', hinge: bool = True,
                 downsampling_rate: int = 16, global_weight: float = 0.5,
                 local_weight: float = 0.5, base_momentum: float = 0.004,
                 num_global_crops: int = 2,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None):
        if matching not in ('geometric', 'similarity'):
            raise ValueError("matching must be 'geometric' or 'similarity', "
                             f'got {matching!r}')
        if local_weight and (dense_neck is None or local_loss is None):
            raise ValueError(
                f'local_weight={local_weight} needs dense_neck and '
                'local_loss; set local_weight=0 for plain DINO.')
        # the dense head from a copy of the RNG: the backbone and global
        # head start as DINO's with the same seed (a paired comparison)
        super().__init__(backbone=backbone, neck=neck, loss=loss,
                         base_momentum=base_momentum,
                         num_global_crops=num_global_crops,
                         extra_heads=dict(dense_neck=local_weight and
                                          dense_neck or None),
                         data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        with paired_init():
            self.local_loss = (MODELS.build(local_loss) if local_weight
                               else None)
        self.matching = matching
        self.hinge = hinge
        self.downsampling_rate = downsampling_rate
        self.global_weight = global_weight
        self.local_weight = local_weight

    def student(self) -> GlobalLocalNet:
        return GlobalLocalNet(self.backbone, self.neck, self.dense_neck)

    @property
    def parts(self) -> Parts:
        teacher = self.teacher.module
        return Parts(
            nets=dict(backbone=Net(self.backbone, self.neck,
                                   dict(dense_neck=self.dense_neck)),
                      teacher=Net(teacher.backbone, teacher.neck,
                                  dict(dense_neck=teacher.dense_neck))),
            ema=dict(teacher=self.student))

    def schedules(self, iteration: int, epoch: int,
                  max_iters: Optional[int]) -> Dict[str, float]:
        """The teacher temperatures of the two losses (linear warm-ups)."""
        values = super().schedules(iteration, epoch, max_iters)
        if self.local_weight:
            values['local_teacher_temp'] = self.local_loss.teacher_temp_at(
                epoch)
        return values

    def _grid(self, crop: torch.Tensor, num_tokens: int) -> Tuple[int, int]:
        rows, cols = (s // self.downsampling_rate for s in crop.shape[-2:])
        if rows * cols != num_tokens:
            raise ValueError(
                f'A {crop.shape[-2]}x{crop.shape[-1]} crop gave {num_tokens} '
                f'tokens, not ({crop.shape[-2]} // {self.downsampling_rate}) '
                f'x ({crop.shape[-1]} // {self.downsampling_rate}); set '
                'downsampling_rate to the backbone\'s total stride (the ViT '
                'patch size, 32 for Swin-T) and use crop sizes it divides.')
        return rows, cols

    def _matches(self, inputs: List[torch.Tensor],
                 student: List[torch.Tensor], teacher: List[torch.Tensor],
                 data_samples: Optional[List[DataSample]]) -> Dict:
        """``{(u, v): (index, mask)}`` for every view pair of the loss."""
        pairs = crop_pairs(len(inputs), self.num_global_crops)
        if self.matching == 'similarity':
            return {(t, s): (similarity_match(student[s].detach(),
                                              teacher[t]), None)
                    for t, s in pairs}
        if not data_samples or 'crop_boxes' not in data_samples[0]:
            raise KeyError(
                "GLSD matching='geometric' needs each crop's box and flip: "
                "crop with RandomResizedCropWithBox inside "
                "MultiViewWithBoxes, and pack with PackInputs(algorithm_keys="
                "('crop_boxes', 'crop_flips')).")
        boxes, flips = (torch.from_numpy(np.stack(
            [getattr(s, key) for s in data_samples], axis=1)).to(
                student[0].device) for key in ('crop_boxes', 'crop_flips'))
        if len(boxes) != len(inputs):
            raise ValueError(f'{len(boxes)} crop boxes per image for '
                             f'{len(inputs)} crops')
        centres = [token_centres(boxes[v], flips[v],
                                 self._grid(crop, student[v].shape[1]))
                   for v, crop in enumerate(inputs)]
        matches = {}
        for t, s in pairs:
            index, mask = geometric_match(centres[s], centres[t])
            matches[t, s] = (index, mask if self.hinge else None)
        return matches

    def loss(self, inputs: List[torch.Tensor],
             data_samples: Optional[List[DataSample]] = None, *,
             teacher_temp: float, local_teacher_temp: float = 0.
             ) -> Dict[str, torch.Tensor]:
        """Teacher on the global crops (no gradient), student on all; the
        weighted global and region terms."""
        check_multi_crop('GLSD', inputs, self.num_global_crops)
        with torch.no_grad():
            teacher = multi_crop_forward(
                self.teacher, inputs[:self.num_global_crops])
        student = multi_crop_forward(self.student(), inputs)
        loss_global = self.loss_module([o.glob for o in student],
                                       [o.glob for o in teacher],
                                       teacher_temp)
        losses = dict(loss_global=self.global_weight * loss_global)
        if self.local_weight:
            matches = self._matches(inputs, [o.tokens for o in student],
                                    [o.tokens for o in teacher],
                                    data_samples)
            loss_local = self.local_loss([o.dense for o in student],
                                         [o.dense for o in teacher],
                                         matches, local_teacher_temp)
            losses['loss_local'] = self.local_weight * loss_local
            masks = [m for _, m in matches.values() if m is not None]
            if masks:
                losses['matched'] = torch.stack(
                    [m.float().mean() for m in masks]).mean()
        return losses
