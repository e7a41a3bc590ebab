"""Multi-crop forward (DINO's ``MultiCropWrapper``): consecutive crops of
the same resolution go through the network in one batch."""
from itertools import groupby
from typing import Callable, List, Tuple, Union

import torch

Output = Union[torch.Tensor, Tuple[torch.Tensor, ...]]


def multi_crop_forward(net: Callable[[torch.Tensor], Output],
                       crops: List[torch.Tensor]) -> List[Output]:
    """``[net(c) for c in crops]``, with one call per run of crops of equal
    size (so BatchNorm sees each resolution group as one batch, as in DINO).

    ``net`` maps (N, 3, H, W) to an (N, ...) tensor, or to a tuple of them
    (a NamedTuple keeps its type; a None field stays None); the result is
    split back into one tensor (tuple) per crop, in order.
    """
    outputs = []
    sizes = [c.shape[-2:] for c in crops]
    start = 0
    for _, group in groupby(sizes):
        count = len(list(group))
        out = net(torch.cat(crops[start:start + count]))
        if isinstance(out, tuple):
            make = getattr(type(out), '_make', tuple)
            chunks = [[None] * count if o is None else o.chunk(count)
                      for o in out]
            outputs.extend(make(fields) for fields in zip(*chunks))
        else:
            outputs.extend(out.chunk(count))
        start += count
    return outputs
