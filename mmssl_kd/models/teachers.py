"""Frozen teachers: build a network, load its weights from any source, freeze.

**How a teacher stays out of the optimizer.**  :class:`FrozenTeacher` keeps
its weights as ``nn.Parameter`` with ``requires_grad=False``: DDP then
ignores them, and ``sync_bn='torch'`` can still convert its BN layers (it
cannot when the weights are buffers).  The scope's default optimizer
constructor leaves them out
(:class:`mmssl_kd.engine.optimizers.DefaultOptimWrapperConstructor`).
"""
import logging
import os.path as osp
from collections.abc import Mapping
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModule

from mmssl_kd.compat import load_checkpoint_file
from mmssl_kd.models.backbones.foundation_vit import (
    OFFICIAL_LAYOUTS,
    FoundationViT,
    timm_from_official,
)
from mmssl_kd.models.converters import vit_from_timm
from mmssl_kd.models.utils import to_vector
from mmssl_kd.registry import MODELS

PrefixMap = Dict[str, Optional[str]]

SOURCES = ('mmssl_kd', 'mmpretrain', 'timm', 'torchvision', 'state_dict',
           'moco', 'mocov3', 'dino', 'dinov2', 'dinov3')
_SSL_SOURCES = ('mmssl_kd', 'mmpretrain')
# The official repositories' checkpoints (torchvision ResNet names under a
# prefix, projection heads dropped): MoCo v1/v2 (SEED's teachers) keep the
# query encoder, MoCo v3 the base encoder, DINO the teacher (saved inside
# DDP for a ResNet: 'module.backbone.'). Their ViTs have timm's names.
_OFFICIAL_MAPS = {
    'moco': {'module.encoder_q.': 'backbone.',
             'module.encoder_q.fc.': None},
    'mocov3': {'module.base_encoder.': 'backbone.',
               'module.base_encoder.fc.': None,
               'module.base_encoder.head.': None},
    'dino': {'backbone.': 'backbone.', 'backbone.fc.': None,
             'module.backbone.': 'backbone.', 'module.backbone.fc.': None},
}
# Sources whose weights sit in a library model at backbone.<attr>, and the
# backbone config that has it.
_WRAPPED = {'timm': ('timm_model', "dict(type='TimmBackbone' or "
                     "'TIMMBackbone', model_name=...)"),
            'torchvision': ('torchvision_model',
                            "dict(type='TorchvisionBackbone', name=...)"),
            'dinov2': ('timm_model', "dict(type='FoundationViT', "
                       "model_name='vit_base_patch14_dinov2', ...)"),
            'dinov3': ('timm_model', "dict(type='FoundationViT', "
                       "model_name='vit_base_patch16_dinov3', ...)")}
_SHOWN = 20  # keys listed per kind in a mismatch report


def _state_dict_of(ckpt: object, path: str,
                   keys: Sequence[str] = ('state_dict', 'model')) -> Mapping:
    """The state dict in a loaded file: under the first of ``keys`` it has
    ('state_dict', 'model'; DINO's: 'teacher'), or the file itself."""
    if not isinstance(ckpt, Mapping):
        raise TypeError(f'{path} holds a {type(ckpt).__name__}, not a state '
                        'dict (or a dict with one under "state_dict" or '
                        '"model")')
    for key in keys:
        if isinstance(ckpt.get(key), Mapping):
            return ckpt[key]
    return ckpt


def apply_prefix_map(state: Mapping, prefix_map: PrefixMap) -> dict:
    """Rename ``state``'s keys by their longest matching old prefix.

    A key matching no prefix is kept as it is; a prefix mapped to ``None``
    drops its keys.  Raises ``ValueError`` if two keys get the same name.
    """
    prefixes = sorted(prefix_map, key=len, reverse=True)
    renamed, origin = {}, {}
    for key, value in state.items():
        old = next((p for p in prefixes if key.startswith(p)), None)
        if old is not None and prefix_map[old] is None:
            continue
        new = key if old is None else prefix_map[old] + key[len(old):]
        if new in renamed:
            raise ValueError(f'prefix_map {prefix_map} maps both '
                             f'{origin[new]!r} and {key!r} to {new!r}')
        renamed[new], origin[new] = value, key
    return renamed


def _backbone_from_timm(state: Dict[str, torch.Tensor]
                        ) -> Dict[str, torch.Tensor]:
    """``backbone.*`` of a timm-named ViT (official MoCo v3 and DINO ViTs)
    in MMPretrain's ``VisionTransformer`` names; other keys unchanged."""
    vit = {k[len('backbone.'):]: v for k, v in state.items()
           if k.startswith('backbone.')}
    out = {k: v for k, v in state.items() if not k.startswith('backbone.')}
    out.update({f'backbone.{k}': v for k, v in vit_from_timm(vit).items()})
    return out


def _listing(what: str, keys: List[str]) -> str:
    if not keys:
        return ''
    shown = ''.join(f'\n    {k}' for k in keys[:_SHOWN])
    more = f'\n    ... and {len(keys) - _SHOWN} more' \
        if len(keys) > _SHOWN else ''
    return f'\n  {len(keys)} {what}:{shown}{more}'


def state_dict_mismatch(own: Mapping, state: Mapping, model: str,
                        file: str) -> str:
    """The keys of ``state`` (a file's) that do not fit a module whose
    state dict is ``own``, as report lines: missing, unexpected and
    mis-shaped keys, each kind counted and the first few listed; ``''``
    when they fit.  ``model`` and ``file`` name the two sides.  Missing BN
    ``num_batches_tracked`` buffers are not reported (files without them,
    such as the CIFAR ``.th`` teachers, are complete)."""
    missing = [k for k in own if k not in state
               and not k.endswith('num_batches_tracked')]
    unexpected = [k for k in state if k not in own]
    shapes = [f'{k}: {file} {tuple(v.shape)}, {model} '
              f'{tuple(own[k].shape)}' for k, v in state.items()
              if k in own and v.shape != own[k].shape]
    return (_listing(f'missing keys ({model} keys the {file} lacks)',
                     missing) +
            _listing(f'unexpected keys ({file} keys the {model} lacks)',
                     unexpected) +
            _listing('shape mismatches', shapes))


@MODELS.register_module()
class FrozenTeacher(BaseModule):
    """A network with loaded, frozen weights that maps images to (B, D)
    embeddings.

    Frozen means: every parameter has ``requires_grad=False``, the module
    stays in eval mode (BN uses its running statistics) whatever
    ``train(mode)`` is called with, :meth:`forward` runs under
    ``torch.no_grad()``, and no optimizer gets its parameters (see the
    module docstring).  The weights are loaded when the teacher is built,
    and again by :meth:`init_weights`, which the Runner calls through the
    parent model before training: a parent's layer-wise ``init_cfg``
    (``layer='Conv2d'`` ...) reaches the teacher's layers too, and must not
    leave them changed.

    Weights come from ``checkpoint`` through the project's safe loader
    (:func:`mmssl_kd.compat.load_checkpoint_file`: a file that needs a
    global outside the safe list is refused unless trusted).  The file's
    state dict (under ``'state_dict'`` or ``'model'`` if there is one) is
    renamed by ``prefix_map``: each key takes the longest old prefix it
    starts with, a ``None`` value drops those keys, and a key no prefix
    matches keeps its name.  ``source`` sets the default map:

    - ``'mmssl_kd'``, ``'mmpretrain'``: a checkpoint of an SSL model of this
      project or MMPretrain; ``{'backbone.': 'backbone.', 'neck.':
      'neck.'}`` (``neck.`` only if the teacher has a neck).  For these two
      sources keys no prefix matches are dropped (the file also holds heads,
      momentum encoders, queues).  A momentum encoder as teacher: MoCo v3
      ``{'momentum_encoder.module.0.': 'backbone.',
      'momentum_encoder.module.1.': 'neck.'}``, BYOL the same with
      ``target_net.``.
    - ``'timm'``: a timm model's state dict, for ``backbone=dict(
      type='TimmBackbone' or 'TIMMBackbone' or 'FoundationViT',
      model_name=...)`` (keys under ``backbone.timm_model.``); the model's
      classifier (its ``pretrained_cfg['classifier']``) is dropped.
    - ``'dinov2'``, ``'dinov3'``: the official DINOv2 / DINOv3 repositories'
      ``torch.hub`` checkpoints (``dinov2_vitb14_pretrain.pth``,
      ``dinov2_vitb14_reg4_pretrain.pth``, ``dinov3_vitb16_pretrain_*.pth``
      ...), for ``backbone=dict(type='FoundationViT',
      model_name='vit_base_patch14_dinov2')`` (``_reg4_dinov2``,
      ``_patch16_dinov3`` ...): keys go under ``backbone.timm_model.`` and
      are then converted by timm's own converter
      (:func:`~mmssl_kd.models.backbones.foundation_vit.timm_from_official`).
    - ``'torchvision'``: a torchvision model's state dict, for
      ``backbone=dict(type='TorchvisionBackbone', name=...)`` (keys under
      ``backbone.torchvision_model.``); its classifier is dropped.
    - ``'moco'``, ``'mocov3'``, ``'dino'``: the official MoCo v1/v2 (also
      SEED's teachers), MoCo v3 and DINO checkpoints, for an MMPretrain
      ``ResNet`` (torchvision names) or ``VisionTransformer`` backbone (the
      official ViTs' timm names are renamed): the query encoder
      ``module.encoder_q.``, the base encoder ``module.base_encoder.``, or
      the ``'teacher'`` entry's ``backbone.`` (``module.backbone.`` for a
      ResNet); projection heads and every other key are dropped. (DINO's
      backbone-only release files need no map: ``'state_dict'`` with
      ``{'': 'backbone.'}``; a ViT's are renamed the same way.)
    - ``'state_dict'``: any state dict, keys as they are unless mapped;
      e.g. the CIFAR ResNet ``.th`` files: ``{'module.': 'backbone.',
      'module.linear.': None}``.

    A ``.safetensors`` file is read with ``safetensors`` (tensors only, in
    any of the layouts above; timm's and Hugging Face's releases).

    A given ``prefix_map`` replaces the default one.  After renaming, a
    teacher key the file lacks is *missing*, a file key the teacher lacks is
    *unexpected*; these and shape mismatches raise a ``RuntimeError`` that
    names the file and lists them (``strict=False``: a warning, and the
    matching tensors are loaded).  BN ``num_batches_tracked`` buffers may be
    missing (the CIFAR ``.th`` files have none): in eval mode they are
    unused.

    Args:
        backbone: Backbone config; its last output is used.
        neck: Optional neck config (e.g. the teacher's own SSL projector),
            given the backbone's outputs.
        checkpoint: Weight file.  None leaves the weights to whoever loads
            the whole model (``load_from``, resume).
        source: Key layout of the file, one of :data:`SOURCES`.
        prefix_map: Old key prefix -> new prefix (or None to drop).
        strict: Raise on missing, unexpected or mis-shaped keys.
        input_size: Side of the dummy (1, 3, S, S) input that measures
            :attr:`embed_dim` (224 for ImageNet ViTs with a fixed size;
            rounded up to whole patches for a ``FoundationViT``).

    Attributes:
        embed_dim (int): Size D of the embeddings.
    """

    def __init__(self,
                 backbone: dict,
                 neck: Optional[dict] = None,
                 checkpoint: Optional[str] = None,
                 source: str = 'mmssl_kd',
                 prefix_map: Optional[PrefixMap] = None,
                 strict: bool = True,
                 input_size: int = 32):
        super().__init__(init_cfg=None)
        if source not in SOURCES:
            raise ValueError(f'FrozenTeacher source {source!r} is not one of '
                             f'{SOURCES}')
        self.source = source
        self.checkpoint = checkpoint
        self.prefix_map = prefix_map
        self.strict = strict
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck) if neck is not None else None
        if checkpoint is not None:
            self.load_checkpoint(checkpoint, prefix_map, strict)
        self.requires_grad_(False)
        self.eval()
        if isinstance(self.backbone, FoundationViT):  # whole patches
            patch = max(self.backbone.patch_size)
            input_size = -(-input_size // patch) * patch
        dummy = torch.zeros(1, 3, input_size, input_size)
        self.embed_dim: int = self(dummy).shape[1]

    def default_prefix_map(self) -> PrefixMap:
        """The key mapping that ``source`` implies for this teacher."""
        if self.source in _SSL_SOURCES:
            parts = ['backbone'] + (['neck'] if self.neck is not None else [])
            return {f'{p}.': f'{p}.' for p in parts}
        if self.source == 'state_dict':
            return {}
        if self.source in _OFFICIAL_MAPS:
            return dict(_OFFICIAL_MAPS[self.source])
        attr, wrapper = _WRAPPED[self.source]
        model = getattr(self.backbone, attr, None)
        if model is None:
            raise ValueError(
                f"source='{self.source}' needs backbone="
                f'{wrapper} (weights under backbone.{attr}), '
                f'not {type(self.backbone).__name__}; or give prefix_map')
        if attr == 'timm_model':
            classifier = model.pretrained_cfg.get('classifier') or ()
        else:
            classifier = self.backbone.classifier_name
        if isinstance(classifier, str):
            classifier = (classifier, )
        prefix_map = {'': f'backbone.{attr}.'}
        prefix_map.update({f'{c}.': None for c in classifier})
        return prefix_map

    def load_checkpoint(self, path: str,
                        prefix_map: Optional[PrefixMap] = None,
                        strict: bool = True) -> None:
        """Load ``path`` as described in the class docstring."""
        if not osp.isfile(osp.expanduser(path)):
            raise FileNotFoundError(
                f'FrozenTeacher: checkpoint file {path!r} '
                f'({osp.abspath(osp.expanduser(path))}) does not exist. Set '
                "the teacher's `checkpoint` in the config (e.g. "
                '`model.teacher.checkpoint`) to a local weight file.')
        if path.endswith('.safetensors'):  # tensors only: nothing runs
            from safetensors.torch import load_file
            ckpt = load_file(osp.expanduser(path), device='cpu')
        else:
            ckpt = load_checkpoint_file(path, 'cpu')
        state = _state_dict_of(
            ckpt, path, ('teacher', ) if self.source == 'dino' else
            ('state_dict', 'model'))
        if prefix_map is None:
            prefix_map = self.default_prefix_map()
        if self.source in _SSL_SOURCES + tuple(_OFFICIAL_MAPS):
            prefix_map = {'': None, **prefix_map}
        state = apply_prefix_map(state, prefix_map)
        if self.source in OFFICIAL_LAYOUTS:
            state = self._timm_from_official(state)
        if any(k.startswith('backbone.blocks.') for k in state):
            state = _backbone_from_timm(state)

        own = self.state_dict()
        mismatch = state_dict_mismatch(own, state, 'teacher', 'file')
        if mismatch:
            report = (
                f"FrozenTeacher: the weights in {path!r} (source="
                f"'{self.source}', prefix_map={prefix_map}; keys after "
                'prefix_map) do not match the teacher.' + mismatch)
            if strict:
                raise RuntimeError(
                    report + '\nFix `source` or `prefix_map` (a None value '
                    'drops a prefix), or set strict=False.')
            print_log(report + '\nstrict=False: loading the rest.',
                      logger='current', level=logging.WARNING)
        self.load_state_dict(
            {k: v for k, v in state.items()
             if k in own and v.shape == own[k].shape}, strict=False)
        print_log(f'FrozenTeacher: loaded {path} (source={self.source!r})',
                  logger='current')

    def _timm_from_official(self, state: Mapping) -> dict:
        """The keys under ``backbone.timm_model.`` from the official
        DINOv2/DINOv3 layout to timm's (timm's own converter,
        :func:`~mmssl_kd.models.backbones.foundation_vit.timm_from_official`);
        other keys unchanged."""
        prefix = 'backbone.timm_model.'
        model = getattr(self.backbone, 'timm_model', None)
        if model is None:
            raise ValueError(
                f"source='{self.source}' needs backbone="
                f'{_WRAPPED[self.source][1]}, not '
                f'{type(self.backbone).__name__}')
        inner = {k[len(prefix):]: v for k, v in state.items()
                 if k.startswith(prefix)}
        out = {k: v for k, v in state.items() if not k.startswith(prefix)}
        converted = timm_from_official(inner, model, self.source)
        out.update({prefix + k: v for k, v in converted.items()})
        return out

    def init_weights(self) -> None:
        """Initialise as MMEngine does, then load ``checkpoint`` again."""
        super().init_weights()
        if self.checkpoint is not None:
            self.load_checkpoint(self.checkpoint, self.prefix_map, self.strict)

    def train(self, mode: bool = True) -> 'FrozenTeacher':
        """Stay in eval mode, whatever ``mode`` is."""
        return super().train(False)

    def forward_features(self, x: torch.Tensor):
        """The backbone's outputs for (B, 3, H, W) images (e.g. feature
        maps, the targets of dense distillation), without gradients."""
        with torch.no_grad():
            return self.backbone(x)

    def forward_head(self, features) -> torch.Tensor:
        """(B, D) embeddings from :meth:`forward_features`' outputs: the
        last output of the neck (or of the backbone, without a neck) as a
        vector (:func:`~mmssl_kd.models.utils.to_vector`: a map averaged, a
        ViT's [CLS] token), without gradients."""
        with torch.no_grad():
            if self.neck is not None:
                features = self.neck(features)
            return to_vector(features,
                             'FrozenTeacher (add a neck that pools it)')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) images -> (B, D) embeddings, without gradients."""
        return self.forward_head(self.forward_features(x))
