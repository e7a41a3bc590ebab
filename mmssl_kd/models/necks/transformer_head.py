"""MOKD's transformer head (T-Head; Song et al., CVPR 2023, Sec. 3.2)."""
from functools import partial
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from timm.models.vision_transformer import Block
from torch.nn.utils.parametrizations import weight_norm

from mmssl_kd.registry import MODELS


@MODELS.register_module()
class TransformerHead(BaseModule):
    """Tokens -> (optional linear projection) + position embedding -> a few
    transformer blocks -> LayerNorm -> mean over tokens -> weight-normalised
    linear layer to K prototypes (no L2 normalisation before it).

    :meth:`forward` gives the logits and the tokens embedded to the head's
    width (one call, so a DDP wrapper sees it); :meth:`attend` runs the
    blocks on embedded tokens, optionally with a **query token prepended**
    (MOKD's cross-attention feature search): the query attends jointly with
    the tokens and is dropped before the mean.

    Args:
        in_channels: the backbone tokens' width (a CNN's channels; a ViT's
            width, then no projection is made).
        embed_dims: the head's width; the peer's query lives here, so MOKD
            sets it to the ViT's width (384 for ViT-S).
        out_channels: K.
        num_blocks: transformer blocks (3).
        num_heads: attention heads (6).
        grid: the position embedding's grid (7 x 7 for a ResNet-50 at 224
            px, 14 x 14 for ViT-S/16), resized bicubically to other grids
            with the official scale factor ``(side + 0.1) / grid``.
        norm_last_layer: fix the last layer's weight norm to 1.
    """

    def __init__(self, in_channels: int, embed_dims: int = 384,
                 out_channels: int = 65536, num_blocks: int = 3,
                 num_heads: int = 6, mlp_ratio: float = 4.,
                 grid: Tuple[int, int] = (7, 7),
                 norm_last_layer: bool = True,
                 init_cfg=dict(type='TruncNormal', layer='Linear', std=.02,
                               bias=0.)):
        super().__init__(init_cfg=init_cfg)
        # the official CNN head's 1x1 conv, as a linear map of tokens
        self.proj = (nn.Linear(in_channels, embed_dims)
                     if in_channels != embed_dims else nn.Identity())
        self.grid = tuple(grid)
        self.pos_embed = nn.Parameter(torch.zeros(1, grid[0] * grid[1],
                                                  embed_dims))
        self.blocks = nn.Sequential(*[
            Block(embed_dims, num_heads, mlp_ratio=mlp_ratio, qkv_bias=True,
                  norm_layer=partial(nn.LayerNorm, eps=1e-6))
            for _ in range(num_blocks)])
        self.norm = nn.LayerNorm(embed_dims, eps=1e-6)
        self.last_layer = weight_norm(
            nn.Linear(embed_dims, out_channels, bias=False))
        magnitude = self.last_layer.parametrizations.weight.original0
        magnitude.data.fill_(1.)
        magnitude.requires_grad = not norm_last_layer

    def init_weights(self) -> None:
        super().init_weights()
        trunc_normal_(self.pos_embed, std=.02)

    def _pos_embed(self, num_tokens: int) -> torch.Tensor:
        side = int(round(num_tokens ** 0.5))
        if side * side != num_tokens:
            raise ValueError(f'TransformerHead needs a square token grid, '
                             f'got {num_tokens} tokens')
        if (side, side) == self.grid:
            return self.pos_embed
        # as the official THead_CNN/THead_ViT.interpolate_pos_encoding
        # (mokd backbones/vision_transformer.py, after DINO's): a scale
        # factor of (side + 0.1) / grid, which bicubic interpolation also
        # uses to map output to input coordinates (unlike `size=`)
        pos = self.pos_embed.reshape(1, *self.grid, -1).permute(0, 3, 1, 2)
        pos = F.interpolate(pos, scale_factor=tuple(
            (side + 0.1) / g for g in self.grid), mode='bicubic',
            align_corners=False)
        return pos.permute(0, 2, 3, 1).flatten(1, 2)

    def forward(self, tokens: torch.Tensor
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """(B, T, in_channels) backbone tokens of a square grid ->
        ``((B, K) logits, (B, T, embed_dims) embedded tokens)``."""
        embedded = self.proj(tokens)
        return self.attend(embedded), embedded

    def attend(self, embedded: torch.Tensor,
               query: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Embedded tokens (B, T, embed_dims) -> (B, K) logits.

        Args:
            embedded: tokens from :meth:`forward`.
            query: optional (B, embed_dims) token prepended after the
                position embedding, attended with the tokens, then dropped.
        """
        x = embedded + self._pos_embed(embedded.shape[1])
        if query is not None:
            x = torch.cat([query[:, None], x], dim=1)
        x = self.norm(self.blocks(x))
        if query is not None:
            x = x[:, 1:]
        return self.last_layer(x.mean(dim=1))
