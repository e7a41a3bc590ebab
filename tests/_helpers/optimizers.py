"""A model of two optimizer parts (``optim_parts``), for the parts
optimizer constructor and the parameter-group layout."""
import torch.nn as nn


class TwoParts(nn.Module):
    optim_parts = {'model1': None, 'model2': 'peer'}

    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(3, 4)
        self.neck = nn.BatchNorm1d(4)
        self.peer = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5))
