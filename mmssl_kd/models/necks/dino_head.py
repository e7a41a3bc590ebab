"""DINO's projection head (Caron et al., ICCV 2021, Sec. 3.1 and App.)."""
from typing import Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch.nn.utils.parametrizations import weight_norm

from mmssl_kd.registry import MODELS


@MODELS.register_module()
class DINOHead(BaseModule):
    """MLP with a bottleneck, L2 normalisation, then a weight-normalised
    linear layer to K prototypes: ``W g(x) / ||g(x)||`` with
    ``W = g_norm * V / ||V||`` per output.

    Args:
        in_channels: input size (the backbone's [CLS] or pooled feature).
        out_channels: K (DINO ViT-S: 65,536).
        hidden_channels: MLP width (2048).
        bottleneck_channels: the normalised bottleneck (256).
        num_layers: linear layers before the bottleneck output (3).
        use_bn: BatchNorm after the hidden linear layers (DINO: False).
        norm_last_layer: fix the weight norm's magnitude to 1 (DINO's
            default, more stable); False lets it learn (DINO ViT-S/16 and
            the global-local recipe use False).
    """

    def __init__(self, in_channels: int, out_channels: int = 65536,
                 hidden_channels: int = 2048,
                 bottleneck_channels: int = 256, num_layers: int = 3,
                 use_bn: bool = False, norm_last_layer: bool = True,
                 init_cfg=dict(type='TruncNormal', layer='Linear', std=.02,
                               bias=0.)):
        super().__init__(init_cfg=init_cfg)
        if num_layers < 1:
            raise ValueError(f'num_layers must be >= 1, got {num_layers}')
        layers = []
        size = in_channels
        for _ in range(num_layers - 1):
            layers.append(nn.Linear(size, hidden_channels))
            if use_bn:
                layers.append(nn.BatchNorm1d(hidden_channels))
            layers.append(nn.GELU())
            size = hidden_channels
        layers.append(nn.Linear(size, bottleneck_channels))
        self.mlp = nn.Sequential(*layers)
        self.last_layer = weight_norm(
            nn.Linear(bottleneck_channels, out_channels, bias=False))
        # created after init_cfg's TruncNormal reaches the MLP only, as in
        # DINO (default nn.Linear direction, magnitude 1)
        magnitude = self.last_layer.parametrizations.weight.original0
        magnitude.data.fill_(1.)
        magnitude.requires_grad = not norm_last_layer

    def forward(self, x: Union[torch.Tensor, Sequence[torch.Tensor]]
                ) -> torch.Tensor:
        """(B, C) features, or a backbone's tuple (last item) -> (B, K)."""
        if isinstance(x, (tuple, list)):
            x = x[-1]
        x = F.normalize(self.mlp(x), dim=-1)
        return self.last_layer(x)
