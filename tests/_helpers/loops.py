"""A dataset whose samples draw from Python's, NumPy's and torch's
generators, a model whose step draws too, and dataloaders of each kind
(main process, persistent or restarted workers, a prebuilt DataLoader)."""
import random

import numpy as np
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from torch.utils.data import DataLoader, Dataset

SAMPLES, BATCH = 8, 2


class Noisy(Dataset):
    """Samples drawn from Python's, NumPy's and torch's generators, as
    augmentations draw: ``[index, random, numpy, torch]``."""

    def __len__(self) -> int:
        return SAMPLES

    def __getitem__(self, index: int) -> dict:
        return dict(inputs=torch.tensor([
            float(index), random.random(), np.random.rand(),
            torch.rand(()).item()], dtype=torch.float64))


class Dropping(BaseModel):
    """A linear layer behind dropout: the step draws in the main process."""

    def __init__(self):
        super().__init__()
        self.dropout = nn.Dropout(0.5)
        self.linear = nn.Linear(4, 2, dtype=torch.float64)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return dict(loss=self.linear(self.dropout(inputs)).pow(2).mean())


# (num_workers, persistent_workers); 'prebuilt': a DataLoader object, which
# the loop cannot wrap, shuffling with torch's RandomSampler
LOADERS = {'main': (0, False), 'persistent': (2, True),
           'restarted': (2, False), 'prebuilt': None}


def dataloader(kind: str, batch_size: int = BATCH):
    if LOADERS[kind] is None:
        return DataLoader(Noisy(), batch_size=batch_size, shuffle=True)
    workers, persistent = LOADERS[kind]
    return dict(dataset=Noisy(), batch_size=batch_size, num_workers=workers,
                persistent_workers=persistent,
                sampler=dict(type='DefaultSampler', shuffle=True),
                collate_fn=dict(type='default_collate'))
