"""Backbone weights in other libraries' key layouts.

MMPretrain's ``ResNet`` already uses torchvision's (and timm's) names; its
``VisionTransformer`` is renamed to timm's ``VisionTransformer`` or
torchvision's ``vision_transformer.VisionTransformer``. Both ViTs compute
the same function (pre-norm blocks, LayerNorm eps 1e-6, qkv bias, [CLS]
first), so the converted weights give the same features (tested).
"""
import re
from typing import Dict, List, Tuple

import torch

LAYOUTS = ('mmpretrain', 'timm', 'torchvision')

_VIT_TO_TIMM: List[Tuple[str, str]] = [
    (r'^patch_embed\.projection\.', 'patch_embed.proj.'),
    (r'^layers\.(\d+)\.ln1\.', r'blocks.\1.norm1.'),
    (r'^layers\.(\d+)\.ln2\.', r'blocks.\1.norm2.'),
    (r'^layers\.(\d+)\.attn\.', r'blocks.\1.attn.'),
    (r'^layers\.(\d+)\.ffn\.layers\.0\.0\.', r'blocks.\1.mlp.fc1.'),
    (r'^layers\.(\d+)\.ffn\.layers\.1\.', r'blocks.\1.mlp.fc2.'),
    (r'^ln1\.', 'norm.'),
    (r'^(cls_token|pos_embed)$', r'\1'),
]
_LAYER = r'encoder.layers.encoder_layer_\1.'
_VIT_TO_TORCHVISION: List[Tuple[str, str]] = [
    (r'^cls_token$', 'class_token'),
    (r'^pos_embed$', 'encoder.pos_embedding'),
    (r'^patch_embed\.projection\.', 'conv_proj.'),
    (r'^layers\.(\d+)\.ln1\.', _LAYER + 'ln_1.'),
    (r'^layers\.(\d+)\.ln2\.', _LAYER + 'ln_2.'),
    (r'^layers\.(\d+)\.attn\.qkv\.(weight|bias)$',
     _LAYER + r'self_attention.in_proj_\2'),
    (r'^layers\.(\d+)\.attn\.proj\.', _LAYER + 'self_attention.out_proj.'),
    (r'^layers\.(\d+)\.ffn\.layers\.0\.0\.', _LAYER + 'mlp.0.'),
    (r'^layers\.(\d+)\.ffn\.layers\.1\.', _LAYER + 'mlp.3.'),
    (r'^ln1\.', 'encoder.ln.'),
]


def backbone_kind(state: Dict[str, torch.Tensor]) -> str:
    """``'resnet'`` (torchvision-style ResNet) or ``'vit'`` (MMPretrain
    ViT) from the keys of a backbone-only state dict."""
    if 'layers.0.attn.qkv.weight' in state:
        return 'vit'
    if 'layer1.0.conv1.weight' in state and 'conv1.weight' in state:
        return 'resnet'
    raise ValueError(
        'Cannot convert this backbone: it is neither a torchvision-style '
        'ResNet (conv1, layer1.0.conv1, ...) nor an MMPretrain '
        f'VisionTransformer (layers.0.attn.qkv); first keys: '
        f'{sorted(state)[:5]}. Keep --layout mmpretrain.')


def _rename(state: Dict[str, torch.Tensor],
            rules: List[Tuple[str, str]], layout: str
            ) -> Dict[str, torch.Tensor]:
    out, unknown = {}, []
    for key, value in state.items():
        for pattern, repl in rules:
            new, hits = re.subn(pattern, repl, key)
            if hits:
                out[new] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f'No {layout} name for the ViT keys {unknown[:5]} '
                         f'({len(unknown)} in all)')
    return out


def convert_backbone(state: Dict[str, torch.Tensor],
                     layout: str) -> Dict[str, torch.Tensor]:
    """A backbone-only MMPretrain state dict in ``layout``'s names.

    Args:
        state: keys of the backbone itself (``extract_backbone.extract``).
        layout: ``'mmpretrain'`` (unchanged), ``'timm'`` or
            ``'torchvision'``.

    Returns:
        A new dict; a ResNet keeps its names (they are torchvision's and
        timm's), a ViT is renamed. Load it with ``strict=False`` and check
        that only the classifier (``fc``, ``head``, ``heads``) is missing.
    """
    if layout not in LAYOUTS:
        raise ValueError(f'layout must be one of {LAYOUTS}, got {layout!r}')
    if layout == 'mmpretrain' or backbone_kind(state) == 'resnet':
        return dict(state)
    rules = _VIT_TO_TIMM if layout == 'timm' else _VIT_TO_TORCHVISION
    return _rename(state, rules, layout)
