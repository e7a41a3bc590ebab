"""Multi-crop forward (DINO's ``MultiCropWrapper``): consecutive crops of
the same resolution go through the network in one batch."""
from itertools import groupby
from typing import Callable, List

import torch


def multi_crop_forward(net: Callable[[torch.Tensor], torch.Tensor],
                       crops: List[torch.Tensor]) -> List[torch.Tensor]:
    """``[net(c) for c in crops]``, with one call per run of crops of equal
    size (so BatchNorm sees each resolution group as one batch, as in DINO).

    ``net`` maps (N, 3, H, W) to an (N, ...) tensor; the result is split
    back into one tensor per crop, in order.
    """
    outputs = []
    sizes = [c.shape[-2:] for c in crops]
    start = 0
    for _, group in groupby(sizes):
        count = len(list(group))
        batch = torch.cat(crops[start:start + count])
        outputs.extend(net(batch).chunk(count))
        start += count
    return outputs
