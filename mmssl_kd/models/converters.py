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

_TV_BLOCK = 'encoder.layers.encoder_layer_{i}.'
# MMPretrain ViT name -> other layout's name. ``{i}`` is a block index,
# ``{p}`` weight or bias; a name ending in '.' is a prefix, the rest of the
# key is kept. The same table renames both ways.
_VIT_NAMES: Dict[str, List[Tuple[str, str]]] = {
    'timm': [
        ('patch_embed.projection.', 'patch_embed.proj.'),
        ('layers.{i}.ln1.', 'blocks.{i}.norm1.'),
        ('layers.{i}.ln2.', 'blocks.{i}.norm2.'),
        ('layers.{i}.attn.', 'blocks.{i}.attn.'),
        ('layers.{i}.ffn.layers.0.0.', 'blocks.{i}.mlp.fc1.'),
        ('layers.{i}.ffn.layers.1.', 'blocks.{i}.mlp.fc2.'),
        ('ln1.', 'norm.'),
        ('cls_token', 'cls_token'),
        ('pos_embed', 'pos_embed'),
    ],
    'torchvision': [
        ('cls_token', 'class_token'),
        ('pos_embed', 'encoder.pos_embedding'),
        ('patch_embed.projection.', 'conv_proj.'),
        ('layers.{i}.ln1.', _TV_BLOCK + 'ln_1.'),
        ('layers.{i}.ln2.', _TV_BLOCK + 'ln_2.'),
        ('layers.{i}.attn.qkv.{p}', _TV_BLOCK + 'self_attention.in_proj_{p}'),
        ('layers.{i}.attn.proj.', _TV_BLOCK + 'self_attention.out_proj.'),
        ('layers.{i}.ffn.layers.0.0.', _TV_BLOCK + 'mlp.0.'),
        ('layers.{i}.ffn.layers.1.', _TV_BLOCK + 'mlp.3.'),
        ('ln1.', 'encoder.ln.'),
    ],
}


def _pattern(template: str) -> 're.Pattern':
    """A regex matching ``template`` (a prefix if it ends in '.')."""
    regex = re.escape(template).replace(r'\{i\}', r'(?P<i>\d+)')
    regex = regex.replace(r'\{p\}', r'(?P<p>weight|bias)')
    return re.compile('^' + regex + ('' if template.endswith('.') else '$'))


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
            pairs: List[Tuple[str, str]], what: str
            ) -> Dict[str, torch.Tensor]:
    """Rename every key by the first (source, target) template it fits."""
    rules = [(_pattern(src), dst) for src, dst in pairs]
    out, unknown = {}, []
    for key, value in state.items():
        for pattern, dst in rules:
            hit = pattern.match(key)
            if hit:
                out[dst.format(**hit.groupdict()) + key[hit.end():]] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f'No {what} name for the ViT keys {unknown[:5]} '
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
    return _rename(state, _VIT_NAMES[layout], layout)


def vit_from_timm(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """A timm-named ViT backbone (``blocks.{i}.norm1``, ..., as in the
    official MoCo v3 and DINO checkpoints; no classifier) in MMPretrain's
    ``VisionTransformer`` names."""
    pairs = [(dst, src) for src, dst in _VIT_NAMES['timm']]
    return _rename(state, pairs, 'MMPretrain')
