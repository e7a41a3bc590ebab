"""Global-Local Self-Distillation (Lebailly and Tuytelaars, WACV 2023):
DINO plus a region loss between the tokens of different views, matched by
where they lie in the original image."""
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn as nn

from mmpretrain.structures import DataSample

from mmssl_kd.registry import MODELS
from ..losses import crop_pairs
from ..utils import (geometric_match, multi_crop_forward, similarity_match,
                     token_centres)
from .dino import DINO, ema_teacher
from .views import check_multi_crop


def global_and_tokens(out) -> Tuple[torch.Tensor, torch.Tensor]:
    """A backbone's ``(global (B, C), region tokens (B, T, C))``.

    A feature map (B, C, h, w) (Swin, a CNN; the last one of a tuple) gives
    its h * w tokens, row-major, and their mean as the global vector (the
    official Swin path: average of the normalised last-stage tokens); a
    token sequence (B, 1 + T, C) (mmpretrain ViT, ``out_type='raw'``) gives
    its [CLS] token and the T patch tokens.
    """
    if isinstance(out, (tuple, list)):
        out = out[-1]
    if out.dim() == 4:
        tokens = out.flatten(2).transpose(1, 2)
        return tokens.mean(dim=1), tokens
    if out.dim() == 3:
        return out[:, 0], out[:, 1:]
    raise ValueError(
        'GLSD needs region tokens: a (B, C, h, w) feature map or a '
        "(B, 1 + T, C) token sequence (ViT with out_type='raw'); the "
        f'backbone gave shape {tuple(out.shape)}.')


class GlobalLocalNet(nn.Module):
    """Backbone and heads of one side (student or teacher):
    ``x -> (h(global), h_d(tokens), tokens)``; without a dense head,
    ``(h(global), tokens)``. Holds references, not copies."""

    def __init__(self, backbone: nn.Module, neck: nn.Module,
                 dense_neck: Optional[nn.Module]):
        super().__init__()
        self.backbone, self.neck, self.dense_neck = backbone, neck, dense_neck

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        glob, tokens = global_and_tokens(self.backbone(x))
        if self.dense_neck is None:
            return self.neck(glob), tokens
        return self.neck(glob), self.dense_neck(tokens), tokens


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

    - ``'geometric'`` (the paper's): the teacher token whose cell centre in
      the original image is nearest; with ``hinge``, pairs whose squared
      distance is not below the larger squared half-diagonal of the two
      cells are masked. Needs the crops' ``crop_boxes`` and ``crop_flips``
      (:class:`MultiViewWithBoxes`).
    - ``'similarity'`` (EsViT's baseline): the teacher token with the
      highest cosine similarity of backbone features, no mask.

    Args:
        backbone: returns a feature map or a [CLS]-first token sequence
            (see :func:`global_and_tokens`).
        neck: the global :class:`DINOHead`.
        loss: the global :class:`DINOLoss`.
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
        super().__init__(backbone=backbone, neck=neck, loss=loss,
                         base_momentum=base_momentum,
                         num_global_crops=num_global_crops,
                         data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        # built from a copy of the RNG, so the backbone and global head
        # start as DINO's with the same seed (a paired comparison)
        with torch.random.fork_rng(devices=[]):
            self.dense_neck = (MODELS.build(dense_neck) if local_weight
                               else None)
            self.local_loss = (MODELS.build(local_loss) if local_weight
                               else None)
        # DINO's teacher, again with the dense head (the first update copies
        # the initialised student, so only the structure matters here)
        self.teacher = ema_teacher(self._student(), base_momentum)
        self.matching = matching
        self.hinge = hinge
        self.downsampling_rate = downsampling_rate
        self.global_weight = global_weight
        self.local_weight = local_weight

    def _student(self) -> GlobalLocalNet:
        return GlobalLocalNet(self.backbone, self.neck,
                              getattr(self, 'dense_neck', None))

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

    def _geometry(self, data_samples: Optional[List[DataSample]],
                  num_views: int) -> Tuple[torch.Tensor, torch.Tensor]:
        """(V, B, 4) crop boxes and (V, B) flips from the data samples."""
        if not data_samples or 'crop_boxes' not in data_samples[0]:
            raise KeyError(
                "GLSD matching='geometric' needs each crop's box and flip: "
                "crop with RandomResizedCropWithBox inside "
                "MultiViewWithBoxes, and pack with PackInputs(algorithm_keys="
                "('crop_boxes', 'crop_flips')).")
        boxes = torch.from_numpy(np.stack(
            [s.crop_boxes for s in data_samples], axis=1))
        flips = torch.from_numpy(np.stack(
            [s.crop_flips for s in data_samples], axis=1))
        if len(boxes) != num_views:
            raise ValueError(f'{len(boxes)} crop boxes per image for '
                             f'{num_views} crops')
        return boxes, flips

    def _matches(self, inputs: List[torch.Tensor],
                 student_tokens: List[torch.Tensor],
                 teacher_tokens: List[torch.Tensor],
                 data_samples: Optional[List[DataSample]]) -> Dict:
        """``{(u, v): (index, mask)}`` for every view pair of the loss."""
        pairs = crop_pairs(len(inputs), self.num_global_crops)
        if self.matching == 'similarity':
            return {(t, s): (similarity_match(student_tokens[s].detach(),
                                              teacher_tokens[t]), None)
                    for t, s in pairs}
        boxes, flips = self._geometry(data_samples, len(inputs))
        device = student_tokens[0].device
        centres = [token_centres(
            boxes[v].to(device), flips[v].to(device),
            self._grid(crop, student_tokens[v].shape[1]))
            for v, crop in enumerate(inputs)]
        matches = {}
        for t, s in pairs:
            index, mask = geometric_match(centres[s], centres[t])
            matches[t, s] = (index, mask if self.hinge else None)
        return matches

    def loss(self, inputs: List[torch.Tensor],
             data_samples: Optional[List[DataSample]] = None
             ) -> Dict[str, torch.Tensor]:
        """Teacher on the global crops (no gradient), student on all; the
        weighted global and region terms."""
        check_multi_crop('GLSD', inputs, self.num_global_crops)
        student = self._student()
        with torch.no_grad():
            self.teacher.update_parameters(student)
            teacher_out = multi_crop_forward(
                self.teacher, inputs[:self.num_global_crops])
        student_out = multi_crop_forward(student, inputs)
        loss_global = self.loss_module([o[0] for o in student_out],
                                       [o[0] for o in teacher_out])
        losses = dict(loss_global=self.global_weight * loss_global,
                      teacher_temp=torch.tensor(
                          self.loss_module.criterion.teacher_temp))
        if self.local_weight:
            matches = self._matches(inputs, [o[2] for o in student_out],
                                    [o[2] for o in teacher_out],
                                    data_samples)
            loss_local = self.local_loss([o[1] for o in student_out],
                                         [o[1] for o in teacher_out],
                                         matches)
            losses['loss_local'] = self.local_weight * loss_local
            masks = [m for _, m in matches.values() if m is not None]
            if masks:
                losses['matched'] = torch.stack(
                    [m.float().mean() for m in masks]).mean()
        return losses
