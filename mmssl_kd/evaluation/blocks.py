"""Per-block features of a backbone that returns every block (SDSSL's
``MultiLayerCLSViT``), and the image subsets the block tools read."""
from typing import List, Tuple

import torch
import torch.nn.functional as F
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import DataLoader


def block_features(backbone: nn.Module,
                   inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
    """The backbone's (B, C) output of every block, L2-normalised, fp32."""
    outs = backbone(inputs)
    if not (isinstance(outs, (tuple, list))
            and all(torch.is_tensor(o) and o.dim() == 2 for o in outs)):
        raise ValueError(
            'per-block features need a backbone that returns a (B, C) '
            'tensor per block, e.g. MultiLayerCLSViT; '
            f'{type(backbone).__name__} does not.')
    return tuple(F.normalize(o.float(), dim=1) for o in outs)


def subset_dataloader(data_root: str, split: str, num_per_class: int,
                      pipeline: List[dict], batch_size: int,
                      num_workers: int, seed: int) -> DataLoader:
    """``num_per_class`` images per class of ``data_root/split`` (chosen
    with ``seed``) through ``pipeline``, in a fixed order."""
    dataset = dict(type='ImageFolder', data_root=data_root, split=split,
                   num_per_class=num_per_class, subset_seed=seed,
                   pipeline=pipeline)
    return Runner.build_dataloader(
        dict(batch_size=batch_size, num_workers=num_workers,
             sampler=dict(type='DefaultSampler', shuffle=False),
             collate_fn=dict(type='default_collate'), dataset=dataset),
        seed=seed)
