"""MMPretrain's cosine-similarity loss (BYOL, Grill et al., NeurIPS 2020,
Eq. 2), in fp32 under mixed precision."""
from typing import Optional

import torch
from mmpretrain.models.losses import (
    CosineSimilarityLoss as _MMPretrainCosineSimilarityLoss,
)

from mmssl_kd.registry import MODELS


@MODELS.register_module()
class CosineSimilarityLoss(_MMPretrainCosineSimilarityLoss):
    """MMPretrain's :class:`~mmpretrain.models.losses.CosineSimilarityLoss`
    (same arguments and value), computed in fp32 with autocast off: under
    bf16 autocast the predictor's outputs arrive in bf16, and MMPretrain's
    normalises and multiplies them in bf16.
    ``'mmpretrain.CosineSimilarityLoss'`` names the original."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        with torch.autocast(pred.device.type, enabled=False):
            return super().forward(pred.float(), target.float(), mask)
