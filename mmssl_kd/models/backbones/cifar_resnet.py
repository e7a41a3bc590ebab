"""ResNet-20/32/44/56/110 for 32 px CIFAR images (He et al. 2016, sec. 4.2).

Three stages of ``n`` basic blocks with 16, 32 and 64 channels and 6n+2
layers in all.  Shortcuts are option A: identity, with stride-2
subsampling and zero-padded channels where the shape changes, so the
network has no projection weights.  Parameter names (``conv1``, ``bn1``,
``layer1.0.conv1`` ...) follow the widely used CIFAR ResNet checkpoints
(the ``*.th`` files in ``shared/weights/cifar10-resnet``).
"""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmssl_kd.registry import MODELS


class _OptionAShortcut(nn.Module):
    """Identity shortcut: subsample by 2 and zero-pad the new channels."""

    def __init__(self, extra_channels: int):
        super().__init__()
        self.pad = extra_channels // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an option-A shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1,
                               bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1,
                               bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        if stride != 1 or in_channels != out_channels:
            self.shortcut = _OptionAShortcut(out_channels - in_channels)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


@MODELS.register_module()
class CIFARResNet(BaseModule):
    """CIFAR ResNet with option-A shortcuts.

    Args:
        depth: 6n+2 layers: 20, 32, 44, 56 or 110.
        out_indices: stages (0, 1, 2) whose feature maps are returned; the
            last stage gives (B, 64, 8, 8) for 32 px input.
        frozen_stages: freeze the stem (0) and stages 1..n (n = 1, 2, 3):
            no gradient, BN in eval mode whatever ``train()`` is given, as
            MMPretrain's ``ResNet``; 3 freezes all (linear probe); -1 none.
        init_cfg: MMEngine init config; by default Kaiming-normal convs.
    """

    arch_settings = {20: 3, 32: 5, 44: 7, 56: 9, 110: 18}
    widths = (16, 32, 64)

    def __init__(self, depth: int = 20, out_indices: Sequence[int] = (2, ),
                 frozen_stages: int = -1,
                 init_cfg=(dict(type='Kaiming', layer='Conv2d'),
                           dict(type='Constant', val=1,
                                layer='_BatchNorm'))):
        super().__init__(init_cfg=list(init_cfg)
                         if isinstance(init_cfg, tuple) else init_cfg)
        if depth not in self.arch_settings:
            raise KeyError(f'CIFARResNet depth {depth} is not one of '
                           f'{sorted(self.arch_settings)} (6n+2 layers)')
        if not set(out_indices) <= {0, 1, 2}:
            raise ValueError(f'out_indices {out_indices} must be in (0, 1, 2)')
        if not -1 <= frozen_stages <= 3:
            raise ValueError(f'frozen_stages {frozen_stages} must be in '
                             '-1..3 (stem, then stages 1, 2, 3)')
        self.depth = depth
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        blocks = self.arch_settings[depth]
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        in_channels = 16
        for i, width in enumerate(self.widths):
            layers = []
            for b in range(blocks):
                stride = 2 if (i > 0 and b == 0) else 1
                layers.append(BasicBlock(in_channels, width, stride))
                in_channels = width
            self.add_module(f'layer{i + 1}', nn.Sequential(*layers))
        self.num_features = in_channels
        for module in self._frozen_modules():
            module.requires_grad_(False)

    def _frozen_modules(self) -> List[nn.Module]:
        stem = [self.conv1, self.bn1] if self.frozen_stages >= 0 else []
        return stem + [getattr(self, f'layer{i}')
                       for i in range(1, self.frozen_stages + 1)]

    def train(self, mode: bool = True) -> 'CIFARResNet':
        super().train(mode)
        for module in self._frozen_modules():
            module.eval()
        return self

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        x = F.relu(self.bn1(self.conv1(x)))
        outs = []
        for i in range(3):
            x = getattr(self, f'layer{i + 1}')(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
