"""MoCo v3's InfoNCE logits (Chen et al., ICCV 2021, Alg. 1), in fp32."""
from typing import Tuple

import torch
import torch.nn.functional as F
from mmengine.dist import get_rank

from ..utils import concat_all_gather


def moco_logits(query: torch.Tensor, keys: torch.Tensor, temperature: float
                ) -> Tuple[torch.Tensor, torch.Tensor]:
    """``q k_all^T / tau`` and each query's own key index.

    ``query`` (B, D) and ``keys`` (B, D) are L2-normalised here; the keys
    are gathered from every rank (no gradient) as the negatives.  Computed
    in fp32 with autocast off, so mixed precision keeps fp32 logits.
    """
    with torch.autocast(query.device.type, enabled=False):
        query = F.normalize(query.float(), dim=1)
        keys = concat_all_gather(F.normalize(keys.float(), dim=1))
        logits = query @ keys.t() / temperature
    labels = torch.arange(len(query), device=query.device) + \
        len(query) * get_rank()
    return logits, labels
