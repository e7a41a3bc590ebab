"""Pull one sub-model's backbone out of an mmssl_kd checkpoint.

    python tools/model_converters/extract_backbone.py CKPT OUT [--part peer]
        [--layout {mmpretrain,timm,torchvision,mmdet}] [--num-heads N]
        [--model-name NAME] [--force]
        [--trust-checkpoint CKPT]

``--part backbone`` (default) is the trained model (the student, DoGo's
first peer); ``peer`` is DoGo's second peer, ``teacher`` SEED's frozen
teacher.

``--layout mmpretrain`` (default): OUT gets ``{'state_dict', 'meta'}``
whose keys are the backbone's own (``conv1.weight``, ...), as MMEngine's
loader reads it: into a bare backbone
(``init_cfg=dict(type='Pretrained', checkpoint=OUT)``) or into an
``ImageClassifier`` with ``prefix`` left out.

A ``TimmBackbone`` or ``TorchvisionBackbone`` (``FoundationViT`` and
MMPretrain's ``TIMMBackbone`` too) exports to its own library's layout,
``--layout timm`` or ``torchvision``: its keys are that library's model's
already.  The model name and builder arguments come from the checkpoint's
config (``meta['cfg']``: the wrapper configs whose model takes the
weights), or ``--model-name``.

``--layout timm`` or ``torchvision``: OUT is the bare state dict of that
library's model without a classifier, in its key names
(:mod:`mmssl_kd.models.converters`); the tool prints the lines that build
the model (``timm.create_model(..., num_classes=0)``, or a torchvision
builder with ``fc``/``heads`` set to ``nn.Identity``) and checks, before
writing, that the weights load into it strictly.  Only ImageNet ResNets
(18 to 152) and ViTs have such models: a CIFAR ResNet is refused.  A ViT's
head count is not in its weights: it is read from the checkpoint's config
(``meta['cfg']``), or given with ``--num-heads``.

``--layout mmdet``: an ImageNet ResNet (18 to 152, 7x7 stem) as an
MMDetection ``ResNet`` backbone, whichever kind the student is: MMPretrain's
``ResNet``, or a ``TimmBackbone`` (pooled or ``features_only``; its keys
are the whole timm model's either way) or ``TorchvisionBackbone`` holding
timm's or torchvision's ResNet, whose parameter names are MMDetection's.
OUT gets ``{'state_dict', 'meta'}`` as with ``mmpretrain`` (the classifier
``fc`` dropped); before writing, the tool loads the weights strictly into
MMDetection's ``ResNet(depth=N)`` where ``mmdet`` imports, else into
MMPretrain's ``mmpretrain.models.ResNet(depth=N)`` (the same parameter
names; the project's ``.venv`` has no MMDetection, ``.venv-det`` has), and
prints which one it used and the MMDetection config lines that read OUT
(``backbone=dict(type='ResNet', depth=N, init_cfg=dict(type='Pretrained',
checkpoint=OUT))``, and the FPN's ``in_channels``: ``[64, 128, 256, 512]``
for ResNet-18/34, ``[256, 512, 1024, 2048]`` from ResNet-50 on).  Other
models (a CIFAR ResNet, a ViT, a MobileNet, timm's deep-stem
``resnet50d`` ...) are refused.

Only tensors and plain values are written: the file loads with
``torch.load(weights_only=True)``.
"""
import argparse
import os
import os.path as osp
from typing import Dict, List, Optional, Tuple

import torch

from mmssl_kd.cli import add_trust_argument, read_config_text
from mmssl_kd.compat import load_checkpoint_file, trust_checkpoints
from mmssl_kd.models.converters import (
    LAYOUTS,
    WRAPPER_TYPES,
    backbone_kind,
    convert_backbone,
    resnet_depth,
    target_model,
)


def extract(state_dict: Dict[str, torch.Tensor],
            part: str = 'backbone') -> Dict[str, torch.Tensor]:
    """The tensors under ``<part>.backbone.`` (``backbone.`` for
    ``part='backbone'``), with that prefix removed.

    Raises:
        KeyError: no key has the prefix; the message lists the parts the
            checkpoint has.
    """
    prefix = 'backbone.' if part == 'backbone' else f'{part}.backbone.'
    out = {key[len(prefix):]: value for key, value in state_dict.items()
           if key.startswith(prefix)}
    if not out:
        parts = sorted({key.split('.backbone.')[0] for key in state_dict
                        if '.backbone.' in key})
        raise KeyError(
            f'no key starts with {prefix!r}; parts with a backbone in this '
            f"checkpoint: {['backbone'] + parts}")
    return out


def _built_arch(cfg: dict) -> Optional[dict]:
    """The arch of a ViT config whose arch name is not in its class's
    ``arch_zoo`` (``MoCoV3ViT``'s ``'mocov3-small'``), read from the
    built backbone; None if it cannot be built from the literal values."""
    from mmengine.registry import DefaultScope

    from mmssl_kd.registry import MODELS
    cfg = {key: value for key, value in cfg.items() if key != 'init_cfg'}
    try:
        with DefaultScope.overwrite_default_scope('mmssl_kd'):
            vit = MODELS.build(cfg)
        return dict(embed_dims=vit.embed_dims, num_layers=len(vit.layers),
                    num_heads=vit.layers[0].attn.num_heads)
    except Exception:  # not literal, or not an MMPretrain ViT
        return None


def _vit_archs(node) -> List[dict]:
    """Every ``arch=`` of a ViT backbone dict in a model config, resolved
    to ``embed_dims``/``num_layers``/``num_heads`` (an arch name through
    its class's ``arch_zoo``, e.g. ``MoCoV3ViT``'s ``'mocov3-small'``)."""
    from mmengine.registry import DefaultScope
    from mmpretrain.models import VisionTransformer

    from mmssl_kd.registry import MODELS
    found = []
    if isinstance(node, dict):
        arch, kind = node.get('arch'), node.get('type')
        if isinstance(kind, str) and ('ViT' in kind
                                      or 'VisionTransformer' in kind):
            arch = arch if arch is not None else 'base'
            if isinstance(arch, str):
                with DefaultScope.overwrite_default_scope('mmssl_kd'):
                    cls = MODELS.get(kind)
                zoo = getattr(cls, 'arch_zoo', VisionTransformer.arch_zoo)
                arch = zoo.get(arch.lower()) or _built_arch(node)
            if isinstance(arch, dict):
                found.append(arch)
        for value in node.values():
            found += _vit_archs(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            found += _vit_archs(value)
    return found


def num_heads_from_config(cfg_text: Optional[str],
                          state: Dict[str, torch.Tensor]) -> Optional[int]:
    """The head count of the ViT ``state`` by the checkpoint's config
    text (read without running it, :func:`read_config_text`): that of its
    ViT backbone dicts with the same width and depth, if they agree; else
    None."""
    if not cfg_text:
        return None
    model = read_config_text(cfg_text).get('model')
    dims = state['cls_token'].shape[-1]
    depth = sum(key.endswith('.attn.qkv.weight') for key in state)
    heads = {arch.get('num_heads') for arch in _vit_archs(model)
             if arch.get('embed_dims') == dims
             and arch.get('num_layers') == depth}
    return heads.pop() if len(heads) == 1 else None


def wrapper_configs(cfg_text: Optional[str], library: str) -> List[dict]:
    """The backbone dicts of ``library``'s wrappers (``TimmBackbone``,
    ``FoundationViT``, MMPretrain's ``TIMMBackbone`` for ``'timm'``;
    ``TorchvisionBackbone`` for ``'torchvision'``) in a checkpoint's config
    text, read without running it."""
    from mmssl_kd.cli import NOT_LITERAL
    found: List[dict] = []

    def visit(node) -> None:
        if isinstance(node, dict):
            kind = str(node.get('type', '')).split('.')[-1]
            if (WRAPPER_TYPES.get(kind, ('', ))[0] == library
                    and NOT_LITERAL not in node.values()
                    and node not in found):
                found.append(node)
            for value in node.values():
                visit(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                visit(value)

    if cfg_text:
        visit(read_config_text(cfg_text).get('model'))
    return found


def wrapped_target(backbone: Dict[str, torch.Tensor],
                   weights: Dict[str, torch.Tensor], layout: str,
                   cfg_text: Optional[str], model_name: Optional[str]):
    """``(code, build)`` of the first candidate model config that
    ``weights`` (a ``TimmBackbone``'s or ``TorchvisionBackbone``'s, in
    the library's names) load into strictly: ``--model-name``, else each
    wrapper config of the checkpoint's config."""
    if model_name:
        candidates = [dict(type='TimmBackbone', model_name=model_name)
                      if layout == 'timm' else
                      dict(type='TorchvisionBackbone', name=model_name)]
    else:
        candidates = wrapper_configs(cfg_text, layout)
    if not candidates:
        return target_model(backbone, layout)  # names --model-name
    errors = []
    for cfg in candidates:
        try:
            code, build = target_model(backbone, layout, model_cfg=cfg)
            build().load_state_dict(weights)
            return code, build
        except Exception as err:  # another model of the config
            errors.append(f'{cfg}: {str(err).splitlines()[0]}')
    raise RuntimeError('no model of the config takes these weights: '
                       + '; '.join(errors))


def mmdet_resnet(depth: int) -> Tuple[str, torch.nn.Module]:
    """``(name, model)``: MMDetection's ``ResNet(depth=depth)`` where
    ``mmdet`` imports, else MMPretrain's (the same parameter names)."""
    try:
        from mmdet.models.backbones import ResNet
        name = f'mmdet.models.backbones.ResNet(depth={depth})'
    except (ImportError, AssertionError):  # none, no mmcv ops, versions
        from mmpretrain.models import ResNet
        name = (f'mmpretrain.models.ResNet(depth={depth}) (mmdet does not '
                "import here; MMDetection's ResNet has the same parameter "
                'names)')
    return name, ResNet(depth=depth)


def mmdet_config(depth: int, out: str) -> str:
    """The MMDetection config lines that read ``out`` as the backbone."""
    channels = [64, 128, 256, 512] if depth < 50 else [256, 512, 1024, 2048]
    which = 'ResNet-18/34' if depth < 50 else 'ResNet-50 and deeper'
    backbone = (f"backbone=dict(type='ResNet', depth={depth}, init_cfg="
                f"dict(type='Pretrained', checkpoint={out!r}))")
    return (f'model = dict(\n    {backbone},\n'
            f'    neck=dict(in_channels={channels}))'
            f"  # the FPN's inputs: {which}'s stage channels")


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        description="Write one sub-model's backbone weights of an mmssl_kd "
        'checkpoint as a backbone-only state dict.')
    parser.add_argument('checkpoint', help='mmssl_kd training checkpoint')
    parser.add_argument('out', help='the .pth file to write')
    parser.add_argument(
        '--part', default='backbone',
        help="'backbone' (the trained model, default), 'peer' (DoGo's "
        "second peer), 'teacher' (SEED), ...")
    parser.add_argument(
        '--layout', default='mmpretrain', choices=LAYOUTS,
        help="whose model OUT loads into: MMPretrain's (default; "
        "{'state_dict', 'meta'}), timm's or torchvision's (a bare state "
        'dict in their key names; ImageNet ResNets and ViTs), or '
        "MMDetection's ResNet ({'state_dict', 'meta'}; an ImageNet ResNet "
        'of MMPretrain, a TimmBackbone or a TorchvisionBackbone)')
    parser.add_argument(
        '--num-heads', type=int,
        help="a ViT's attention heads, for --layout timm/torchvision "
        "(default: from the checkpoint's config)")
    parser.add_argument(
        '--model-name',
        help='the timm or torchvision model name of a TimmBackbone or '
        "TorchvisionBackbone (default: from the checkpoint's config)")
    parser.add_argument('--force', action='store_true',
                        help='overwrite OUT if it exists')
    add_trust_argument(parser)
    args = parser.parse_args(argv)
    if osp.exists(args.out) and not args.force:
        parser.error(f'{args.out} exists; pass --force to overwrite it')
    trust_checkpoints(args.trust_checkpoint)
    ckpt = load_checkpoint_file(args.checkpoint, map_location='cpu')
    state = ckpt.get('state_dict', ckpt)
    try:
        backbone = extract(state, args.part)
        weights = convert_backbone(backbone, args.layout)
        kind = backbone_kind(backbone) \
            if args.layout in ('timm', 'torchvision') else None
        if args.layout == 'mmdet':
            depth = resnet_depth(weights)
            checked, model = mmdet_resnet(depth)
            model.load_state_dict(weights)  # strict
        elif kind in ('timm', 'torchvision'):
            code, build = wrapped_target(
                backbone, weights, args.layout,
                ckpt.get('meta', {}).get('cfg'), args.model_name)
        elif args.layout != 'mmpretrain':
            heads = args.num_heads
            if heads is None and kind == 'vit':
                heads = num_heads_from_config(
                    ckpt.get('meta', {}).get('cfg'), backbone)
            code, build = target_model(backbone, args.layout, heads)
            build().load_state_dict(weights)  # strict: the printed model
    except (KeyError, ValueError) as err:
        parser.error(f'{args.checkpoint}: {err.args[0]}')
    except RuntimeError as err:  # load_state_dict: keys or shapes differ
        into, hint = ((checked, '') if args.layout == 'mmdet' else
                      (f"{args.layout}'s model",
                       '; check --num-heads or --model-name'))
        parser.error(f'{args.checkpoint}: the weights do not load into '
                     f'{into} ({err}){hint}')
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    if args.layout in ('mmpretrain', 'mmdet'):
        meta = dict(source=osp.abspath(args.checkpoint), part=args.part,
                    layout=args.layout)
        if args.layout == 'mmdet':
            meta['depth'] = depth
        for key in ('epoch', 'iter'):
            if key in ckpt.get('meta', {}):
                meta[key] = ckpt['meta'][key]
        torch.save(dict(state_dict=weights, meta=meta), args.out)
    else:  # exactly what the library's load_state_dict takes
        torch.save(weights, args.out)
    print(f'{args.checkpoint} [{args.part}] -> {args.out} '
          f'({len(weights)} tensors)')
    if args.layout == 'mmdet':
        print(f'Checked: it loads strictly into {checked}.\n'
              f'In an MMDetection config:\n{mmdet_config(depth, args.out)}')
    elif args.layout != 'mmpretrain':
        print(f'Load it with:\n{code}\n'
              f'model.load_state_dict(torch.load({args.out!r}))')


if __name__ == '__main__':
    main()
