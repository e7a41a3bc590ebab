"""A ViT that gives every block's [CLS] token (SDSSL's early exits)."""
from typing import Optional, Sequence, Tuple

import torch
from mmpretrain.models.backbones import VisionTransformer

from mmssl_kd.registry import MODELS


@MODELS.register_module()
class MultiLayerCLSViT(VisionTransformer):
    """MMPretrain's ``VisionTransformer`` returning the [CLS] token after each
    chosen block, every one through the **shared final LayerNorm**.

    This is SDSSL's ``h_l(x)`` (Jang et al., WACV 2023, Sec. 3; the official
    code's ``get_intermediate_layers`` applies the final norm to every
    layer), whereas MMPretrain normalises only the last block's output.
    The weights are those of ``VisionTransformer`` (same keys), so a
    checkpoint loads into a plain ViT for linear probes and fine-tuning.

    Args:
        arch: any ``VisionTransformer`` arch (``'deit-t'``, ``'deit-s'``,
            ``'b'``, ...) or a dict with ``embed_dims``, ``num_layers``,
            ``num_heads``, ``feedforward_channels``; any depth.
        out_indices: the blocks whose [CLS] token is returned, 0-based
            (negative counts from the end); default every block.
        **kwargs: other ``VisionTransformer`` arguments (``img_size``,
            ``patch_size``, ``drop_path_rate``, ...), except ``out_type``
            and ``final_norm``, which this class fixes.

    Returns from ``forward``:
        A tuple of (B, C) tensors, one per index in ``out_indices``, in
        increasing depth; the last block's equals ``VisionTransformer``'s
        ``cls_token`` output.
    """

    def __init__(self, arch: str = 'deit-s',
                 out_indices: Optional[Sequence[int]] = None, **kwargs):
        for key in ('out_type', 'final_norm'):
            if key in kwargs:
                raise ValueError(
                    f'MultiLayerCLSViT fixes {key} (every block\'s [CLS] '
                    'token through the final norm); remove it from the '
                    'config.')
        # raw tokens of every block from the parent; the final norm (ln1)
        # exists and is applied by the parent to the last block only
        super().__init__(arch=arch, out_indices=-1, out_type='raw',
                         final_norm=True, **kwargs)
        indices = (range(self.num_layers) if out_indices is None else
                   out_indices)
        normalised = sorted({i % self.num_layers for i in indices
                             if -self.num_layers <= i < self.num_layers})
        if len(normalised) != len(list(indices)) or not normalised:
            raise ValueError(
                f'out_indices {list(indices)}: need distinct block indices '
                f'in [-{self.num_layers}, {self.num_layers - 1}] (depth '
                f'{self.num_layers}).')
        self.out_indices = normalised

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """(B, 3, H, W) images -> the chosen blocks' normalised [CLS]."""
        tokens = super().forward(x)
        last = self.num_layers - 1
        return tuple(t[:, 0] if i == last else self.ln1(t[:, 0])
                     for i, t in zip(self.out_indices, tokens))
