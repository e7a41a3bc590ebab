"""Backbone outputs as the vectors and tokens the losses compare."""
from typing import Tuple

import torch


def global_and_tokens(out) -> Tuple[torch.Tensor, torch.Tensor]:
    """A backbone's ``(global (B, C), region tokens (B, T, C))``.

    A feature map (B, C, h, w) (Swin, a CNN; the last one of a tuple) gives
    its h * w tokens, row-major, and their mean as the global vector (the
    official Swin path of Global-Local Self-Distillation: average of the
    normalised last-stage tokens); a token sequence (B, 1 + T, C)
    (mmpretrain ViT, ``out_type='raw'``) gives its [CLS] token and the T
    patch tokens.
    """
    if isinstance(out, (tuple, list)):
        out = out[-1]
    if out.dim() == 4:
        tokens = out.flatten(2).transpose(1, 2)
        return tokens.mean(dim=1), tokens
    if out.dim() == 3:
        return out[:, 0], out[:, 1:]
    raise ValueError(
        'GLSD and MOKD need region tokens: a (B, C, h, w) feature map or a '
        "(B, 1 + T, C) token sequence (ViT with out_type='raw'); the "
        f'backbone gave shape {tuple(out.shape)}.')


def to_vector(out, what: str = 'The model') -> torch.Tensor:
    """One (B, C) vector per image from a backbone or neck output: the last
    of a tuple; a (B, C, H, W) map averaged over its positions; a
    [CLS]-first (B, 1 + T, C) token sequence's [CLS] token; a (B, C) vector
    as it is.  ``what`` starts the error message."""
    while isinstance(out, (tuple, list)):
        out = out[-1]
    if out.dim() == 4:
        return out.mean(dim=(2, 3))
    if out.dim() == 3:  # (B, 1 + T, C): a ViT's [CLS] and patch tokens
        return out[:, 0]
    if out.dim() == 2:
        return out
    raise ValueError(
        f'{what} needs a (B, C) vector, a (B, C, H, W) map or a '
        f'[CLS]-first (B, 1 + T, C) token sequence per image; it got shape '
        f'{tuple(out.shape)}.')
