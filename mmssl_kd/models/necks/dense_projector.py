"""The head that maps a student's feature map to the teacher's width."""
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from mmssl_kd.registry import MODELS


@MODELS.register_module()
class DenseProjector(BaseModule):
    """A 1x1 convolution from ``in_channels`` to ``out_channels`` (FitNets'
    regressor), or with ``hidden_channels`` two with BN and ReLU between,
    applied at every location of the last map of the backbone's outputs.

    Args:
        in_channels: the student map's channels.
        out_channels: the teacher's width.
        hidden_channels: None for one linear 1x1 convolution.
    """

    def __init__(self, in_channels: int, out_channels: int,
                 hidden_channels: Optional[int] = None,
                 init_cfg: Optional[Union[dict, list]] = None):
        super().__init__(init_cfg=init_cfg)
        if hidden_channels is None:
            self.proj = nn.Conv2d(in_channels, out_channels, 1)
        else:
            self.proj = nn.Sequential(
                nn.Conv2d(in_channels, hidden_channels, 1, bias=False),
                nn.BatchNorm2d(hidden_channels), nn.ReLU(inplace=True),
                nn.Conv2d(hidden_channels, out_channels, 1))

    def forward(self, x: Union[torch.Tensor, Sequence[torch.Tensor]]
                ) -> torch.Tensor:
        """(B, in, h, w), or a backbone's outputs (the last one), to (B,
        out, h, w)."""
        if isinstance(x, (tuple, list)):
            x = x[-1]
        return self.proj(x)
