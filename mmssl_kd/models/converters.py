"""Backbone weights in other libraries' key layouts.

MMPretrain's ``ResNet`` already uses torchvision's (and timm's) names; its
``VisionTransformer`` is renamed to timm's ``VisionTransformer`` or
torchvision's ``vision_transformer.VisionTransformer``. Both ViTs compute
the same function (pre-norm blocks, LayerNorm eps 1e-6, qkv bias, [CLS]
first), so the converted weights give the same features (tested).

``'mmdet'``: an ImageNet ResNet (MMPretrain's, or timm's or torchvision's
inside a ``TimmBackbone`` / ``TorchvisionBackbone``) in MMDetection's
``ResNet`` names, which are torchvision's too (:func:`resnet_depth`).
"""
import math
import re
from typing import Callable, Dict, List, Optional, Tuple

import torch
from torch import nn

LAYOUTS = ('mmpretrain', 'timm', 'torchvision', 'mmdet')
#: Backbones that hold another library's model, by the attribute (key
#: prefix) that holds it: its keys are already that library's names.
WRAPPED = {'timm_model.': 'timm', 'torchvision_model.': 'torchvision'}
#: The config types of those backbones, and the key naming the model.
WRAPPER_TYPES = {'TimmBackbone': ('timm', 'model_name'),
                 'FoundationViT': ('timm', 'model_name'),
                 'TIMMBackbone': ('timm', 'model_name'),
                 'TorchvisionBackbone': ('torchvision', 'name')}

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


def wrapped_library(state: Dict[str, torch.Tensor]) -> Optional[str]:
    """``'timm'`` or ``'torchvision'`` when every key of a backbone-only
    state dict sits under a wrapped library model (``TimmBackbone``'s
    ``timm_model.``, ``TorchvisionBackbone``'s ``torchvision_model.``);
    else None."""
    for prefix, library in WRAPPED.items():
        if state and all(key.startswith(prefix) for key in state):
            return library
    return None


def backbone_kind(state: Dict[str, torch.Tensor]) -> str:
    """``'resnet'`` (torchvision-style ResNet), ``'vit'`` (MMPretrain
    ViT), or ``'timm'`` / ``'torchvision'`` (a ``TimmBackbone`` /
    ``TorchvisionBackbone``: :func:`wrapped_library`) from the keys of a
    backbone-only state dict."""
    library = wrapped_library(state)
    if library is not None:
        return library
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


def _unwrap(state: Dict[str, torch.Tensor],
            library: str) -> Dict[str, torch.Tensor]:
    """The keys of the model a ``TimmBackbone`` / ``TorchvisionBackbone``
    holds, without its ``timm_model.`` / ``torchvision_model.`` prefix."""
    prefix = next(p for p, lib in WRAPPED.items() if lib == library)
    return {key[len(prefix):]: value for key, value in state.items()}


_MMDET_RESNETS = ("MMDetection's ResNet (--layout mmdet) takes "
                  'ResNet-18/34/50/101/152 with a 7x7 stem')


def _to_mmdet(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """An ImageNet ResNet backbone in MMDetection's ``ResNet`` names,
    without a classifier (``fc``); a ValueError for any other model."""
    if 'layers.0.attn.qkv.weight' in state:
        raise ValueError(f'this backbone is an MMPretrain VisionTransformer; '
                         f'{_MMDET_RESNETS}. Keep --layout mmpretrain.')
    what, library = 'this backbone', wrapped_library(state)
    if library is not None:
        what = f'the {library} model of this backbone'
        state = _unwrap(state, library)
        if state and all(key.startswith('model.') for key in state):
            # timm's FeatureGetterNet (features_only, feature_cls='getter')
            state = {key[6:]: value for key, value in state.items()}
        state = {key: value for key, value in state.items()
                 if not key.startswith('fc.')}
    if 'layer1.0.conv1.weight' not in state:
        raise ValueError(f'{what} is not a ResNet (first keys '
                         f'{sorted(state)[:4]}); {_MMDET_RESNETS}.')
    if 'conv1.weight' not in state:
        stem = sorted(key for key in state if key.startswith('conv1.'))
        raise ValueError(f'{what} is a ResNet with a deep stem ({stem[:3]}'
                         f", e.g. timm's resnet50d); {_MMDET_RESNETS}.")
    _resnet_name(state, "MMDetection's ResNet (--layout mmdet) has")
    return state


def resnet_depth(state: Dict[str, torch.Tensor]) -> int:
    """18, 34, 50, 101 or 152: the depth of an ImageNet ResNet in
    torchvision's (MMPretrain's, MMDetection's) names, or a ValueError."""
    return int(_resnet_name(state)[len('resnet'):])


def convert_backbone(state: Dict[str, torch.Tensor],
                     layout: str) -> Dict[str, torch.Tensor]:
    """A backbone-only MMPretrain state dict in ``layout``'s names.

    Args:
        state: keys of the backbone itself (``extract_backbone.extract``).
        layout: ``'mmpretrain'`` (unchanged), ``'timm'``,
            ``'torchvision'`` or ``'mmdet'``.

    Returns:
        A new dict; a ResNet keeps its names (they are torchvision's and
        timm's), a ViT is renamed, a ``TimmBackbone`` or
        ``TorchvisionBackbone`` loses its ``timm_model.`` /
        ``torchvision_model.`` prefix (into its own library only). Load it
        with ``strict=False`` and check that only the classifier (``fc``,
        ``head``, ``heads``) is missing. ``'mmdet'`` takes an ImageNet
        ResNet of any of these kinds and drops its classifier: the result
        loads strictly into MMDetection's ``ResNet(depth)``.

    Raises:
        ValueError: ``layout`` has no model for this backbone (for
            ``'mmdet'``: anything but a 7x7-stem ResNet-18 to 152).
    """
    if layout not in LAYOUTS:
        raise ValueError(f'layout must be one of {LAYOUTS}, got {layout!r}')
    if layout == 'mmdet':
        return _to_mmdet(state)
    kind = 'mmpretrain' if layout == 'mmpretrain' else backbone_kind(state)
    if kind in WRAPPED.values():
        if layout != kind:
            raise ValueError(
                f'this backbone holds a {kind} model: it exports to '
                f'--layout {kind}, mmdet (a ResNet) or mmpretrain, not '
                f'{layout}')
        return _unwrap(state, kind)
    if kind in ('mmpretrain', 'resnet'):
        return dict(state)
    return _rename(state, _VIT_NAMES[layout], layout)


def vit_from_timm(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """A timm-named ViT backbone (``blocks.{i}.norm1``, ..., as in the
    official MoCo v3 and DINO checkpoints; no classifier) in MMPretrain's
    ``VisionTransformer`` names."""
    pairs = [(dst, src) for src, dst in _VIT_NAMES['timm']]
    return _rename(state, pairs, 'MMPretrain')


#: timm's and torchvision's ImageNet ResNets (7x7 stem, 64 channels) by
#: (blocks per stage, bottleneck blocks).
_RESNETS = {((2, 2, 2, 2), False): 'resnet18',
            ((3, 4, 6, 3), False): 'resnet34',
            ((3, 4, 6, 3), True): 'resnet50',
            ((3, 4, 23, 3), True): 'resnet101',
            ((3, 8, 36, 3), True): 'resnet152'}
#: timm's ViT sizes by (embed_dim, depth, num_heads), MLP ratio 4.
_TIMM_VITS = {(192, 12, 3): 'tiny', (384, 12, 6): 'small',
              (768, 12, 12): 'base', (1024, 24, 16): 'large'}
#: torchvision's ViT builders by (hidden_dim, num_layers, num_heads,
#: mlp_dim, patch_size), all at image_size 224.
_TORCHVISION_VITS = {(768, 12, 12, 3072, 16): 'vit_b_16',
                     (768, 12, 12, 3072, 32): 'vit_b_32',
                     (1024, 24, 16, 4096, 16): 'vit_l_16',
                     (1024, 24, 16, 4096, 32): 'vit_l_32',
                     (1280, 32, 16, 5120, 14): 'vit_h_14'}


def _count(state: Dict[str, torch.Tensor], template: str) -> int:
    """How many consecutive indices ``i`` give a key ``template.format(i)``."""
    n = 0
    while template.format(n) in state:
        n += 1
    return n


def _resnet_name(state: Dict[str, torch.Tensor],
                 who: str = 'timm and torchvision have') -> str:
    """The timm/torchvision name of a ResNet backbone, or a ValueError
    saying that ``who`` no model for it."""
    blocks = tuple(_count(state, f'layer{s}.{{}}.conv1.weight')
                   for s in range(1, 5))
    blocks = blocks[:blocks.index(0)] if 0 in blocks else blocks
    bottleneck = 'layer1.0.conv3.weight' in state
    stem = tuple(state['conv1.weight'].shape)
    width = state['layer1.0.conv1.weight'].shape[0]
    name = _RESNETS.get((blocks, bottleneck))
    if name is None or stem != (64, 3, 7, 7) or width != 64:
        kind = 'bottleneck' if bottleneck else 'basic'
        raise ValueError(
            f'{who} no model for this ResNet '
            f'({len(blocks)} stages of {list(blocks)} {kind} blocks, stem '
            f'conv {list(stem)}, first width {width}: e.g. a '
            'CIFAR ResNet); supported: ResNet-18/34/50/101/152 with a 7x7 '
            'stem. Keep --layout mmpretrain.')
    return name


def _vit_shape(state: Dict[str, torch.Tensor],
               num_heads: int) -> Dict[str, int]:
    """Image size, patch size, width, depth and MLP width of an MMPretrain
    ViT backbone (the head count is not in the weights: ``num_heads``)."""
    dim = state['cls_token'].shape[-1]
    patch = state['patch_embed.projection.weight'].shape[-1]
    grid = math.isqrt(state['pos_embed'].shape[1] - 1)
    if grid * grid != state['pos_embed'].shape[1] - 1:
        raise ValueError('pos_embed does not hold [CLS] and a square grid '
                         f'of patches: shape {list(state["pos_embed"].shape)}')
    if dim % num_heads:
        raise ValueError(f'num_heads={num_heads} does not divide the width '
                         f'{dim}')
    return dict(img_size=grid * patch, patch_size=patch, embed_dim=dim,
                depth=_count(state, 'layers.{}.attn.qkv.weight'),
                num_heads=num_heads,
                mlp=state['layers.0.ffn.layers.0.0.weight'].shape[0])


def _kwargs(values: Dict[str, object]) -> str:
    return ''.join(f', {key}={value!r}' for key, value in values.items())


def _timm_vit(shape: Dict[str, int]) -> str:
    """``timm.create_model(...)`` for the ViT ``shape``: a named model
    where one fits, else the closest named one with its arguments
    overridden (``create_model`` passes them to ``VisionTransformer``)."""
    import timm
    size = _TIMM_VITS.get((shape['embed_dim'], shape['depth'],
                           shape['num_heads']))
    named = (f'vit_{size}_patch{shape["patch_size"]}_{shape["img_size"]}'
             if size else None)
    if named in timm.list_models() and shape['mlp'] == 4 * shape['embed_dim']:
        return f"timm.create_model({named!r}, pretrained=False, num_classes=0)"
    base = dict(img_size=224, patch_size=16, embed_dim=384, depth=12,
                num_heads=6, mlp_ratio=4.0)
    if size:
        base.update(embed_dim=shape['embed_dim'], depth=shape['depth'],
                    num_heads=shape['num_heads'])
    wanted = dict(shape, mlp_ratio=shape['mlp'] / shape['embed_dim'])
    wanted.pop('mlp')
    differ = {key: value for key, value in wanted.items()
              if value != base[key]}
    return (f"timm.create_model('vit_{size or 'small'}_patch16_224', "
            f'pretrained=False, num_classes=0{_kwargs(differ)})')


def _torchvision_vit(shape: Dict[str, int]) -> str:
    """torchvision's ViT builder (``vit_b_16`` ...) or constructor for
    ``shape``."""
    key = (shape['embed_dim'], shape['depth'], shape['num_heads'],
           shape['mlp'], shape['patch_size'])
    if key in _TORCHVISION_VITS and shape['img_size'] == 224:
        return f'torchvision.models.{_TORCHVISION_VITS[key]}(weights=None)'
    return ('torchvision.models.VisionTransformer('
            f'image_size={shape["img_size"]}, '
            f'patch_size={shape["patch_size"]}, num_layers={shape["depth"]}, '
            f'num_heads={shape["num_heads"]}, '
            f'hidden_dim={shape["embed_dim"]}, mlp_dim={shape["mlp"]})')


def _wrapper_args(kind: str) -> Tuple[str, ...]:
    """The arguments the wrapper class ``kind`` takes itself (its
    signature's named ones), which are not its library builder's."""
    import inspect

    from mmssl_kd.registry import MODELS
    params = inspect.signature(MODELS.get(kind)).parameters.values()
    return tuple(p.name for p in params if p.kind != p.VAR_KEYWORD)


def wrapped_model_code(model_cfg: dict) -> str:
    """The lines that build the library model a wrapper config
    (``dict(type='TimmBackbone', model_name=..., **kwargs)`` or
    ``dict(type='TorchvisionBackbone', name=..., **kwargs)``) holds,
    without a classifier and without downloading: ``timm.create_model(...,
    pretrained=False, num_classes=0, **kwargs)`` or
    ``torchvision.models.get_model(..., weights=None, **kwargs)`` with its
    last ``nn.Linear`` set to ``nn.Identity``."""
    kind = str(model_cfg['type']).split('.')[-1]
    library, name_key = WRAPPER_TYPES[kind]
    name = model_cfg[name_key]
    own = _wrapper_args(kind)
    kwargs = {key: value for key, value in model_cfg.items()
              if key not in own and key not in ('type', 'num_classes')}
    if kind == 'FoundationViT':
        kwargs.setdefault('dynamic_img_size', True)
    if library == 'timm':
        return (f'model = timm.create_model({name!r}, pretrained=False, '
                f'num_classes=0{_kwargs(kwargs)})')
    import torchvision
    linears = [n for n, m in torchvision.models.get_model(
        name, weights=None, **kwargs).named_modules()
        if isinstance(m, nn.Linear)]
    parent, _, child = linears[-1].rpartition('.')
    return (f'model = torchvision.models.get_model({name!r}, weights=None'
            f'{_kwargs(kwargs)})\n'
            f'setattr(model.get_submodule({parent!r}), {child!r}, '
            'torch.nn.Identity())')


def target_model(state: Dict[str, torch.Tensor], layout: str,
                 num_heads: Optional[int] = None,
                 model_cfg: Optional[dict] = None
                 ) -> Tuple[str, Callable[[], nn.Module]]:
    """The model of ``layout``'s library that the converted ``state``
    (MMPretrain names, :func:`convert_backbone`'s input) loads into with
    a plain, strict ``load_state_dict``.

    Args:
        state: a backbone-only MMPretrain state dict.
        layout: ``'timm'`` or ``'torchvision'``.
        num_heads: a ViT's attention heads (its weights do not say).
        model_cfg: for a ``TimmBackbone`` / ``TorchvisionBackbone``
            (``timm_model.`` / ``torchvision_model.`` keys), its config
            dict: the model name and builder arguments
            (:func:`wrapped_model_code`).

    Returns:
        ``(code, build)``: Python lines that build the model without a
        classifier (timm: ``num_classes=0``; torchvision: ``fc`` or
        ``heads`` replaced by ``nn.Identity``), and a function that runs
        them (nothing is downloaded).

    Raises:
        ValueError: the library has no such model (a CIFAR ResNet, a ViT
            without ``num_heads``), or ``layout`` is not a library's.
    """
    if layout not in ('timm', 'torchvision'):
        raise ValueError(f"layout must be 'timm' or 'torchvision', got "
                         f'{layout!r}')
    kind = backbone_kind(state)
    if kind in WRAPPED.values():
        if kind != layout:
            raise ValueError(f'this backbone holds a {kind} model: it '
                             f'exports to --layout {kind}, not {layout}')
        if model_cfg is None:
            raise ValueError(f'a {kind} backbone needs its model name '
                             '(pass --model-name, or keep the config in '
                             "the checkpoint's meta)")
        code = wrapped_model_code(model_cfg)
    elif kind == 'resnet':
        name = _resnet_name(state)
        code = (f'model = timm.create_model({name!r}, pretrained=False, '
                'num_classes=0)' if layout == 'timm' else
                f'model = torchvision.models.{name}(weights=None)\n'
                'model.fc = torch.nn.Identity()')
    else:
        if num_heads is None:
            raise ValueError('a ViT backbone needs its number of attention '
                             'heads (the weights do not hold it): pass '
                             '--num-heads')
        shape = _vit_shape(state, num_heads)
        code = (f'model = {_timm_vit(shape)}' if layout == 'timm' else
                f'model = {_torchvision_vit(shape)}\n'
                'model.heads = torch.nn.Identity()')

    def build() -> nn.Module:
        import timm
        import torchvision
        scope = dict(torch=torch, timm=timm, torchvision=torchvision)
        exec(code, scope)  # the printed lines themselves
        return scope['model']

    return f'import {layout}, torch\n{code}', build
