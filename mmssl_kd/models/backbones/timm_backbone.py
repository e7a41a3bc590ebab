"""Any timm model, by name, as a student (or teacher) backbone."""
import copy
from typing import Optional, Sequence, Tuple, Union

import timm
import torch
from mmengine.model import BaseModule

from mmssl_kd.registry import MODELS


@MODELS.register_module()
class TimmBackbone(BaseModule):
    """``timm.create_model(model_name, pretrained=False, num_classes=0,
    **kwargs)``: a ResNet, MobileNetV4, EfficientNet, FastViT, RepViT, ViT
    ... by its timm name.

    - ``features_only=False`` (default), for global objectives:
      :meth:`forward` returns a 1-tuple holding the **pooled embedding**
      ``forward_head(forward_features(x), pre_logits=True)``, (B, D): a
      CNN's globally pooled last map, a ViT's [CLS] token (or whatever the
      model's ``global_pool`` says).
    - ``features_only=True``, for dense objectives: the stage maps
      ``(B, C_i, H_i, W_i)`` at ``out_indices`` (default: every stage, as
      ``timm.create_model(..., features_only=True)`` gives them), from
      timm's ``forward_intermediates``, in the order of ``out_indices``.
      The layers after the last map asked for (those timm's
      ``prune_intermediate_layers`` would remove: a conv head, a ViT's
      last norm, later blocks) are frozen, not removed: DDP needs no
      ``find_unused_parameters`` and the state dict stays timm's whole
      model's.

    The model sits at ``self.timm_model`` with timm's own key names, so a
    checkpoint's ``backbone.timm_model.*`` tensors are timm's state dict
    (``tools/model_converters/extract_backbone.py --layout timm`` writes
    it), and :class:`~mmssl_kd.models.FrozenTeacher` loads a timm state
    dict into it (``source='timm'``).  Nothing is downloaded.

    Not to be confused with MMPretrain's ``TIMMBackbone`` (capital IMM),
    which this does not replace: that one returns timm's ``forward_features``
    map and builds ``features_only`` models with timm's feature wrappers,
    whose keys are not timm's model's.

    Args:
        model_name: Any ``timm.create_model`` name (``timm.list_models()``).
        features_only: Return stage maps instead of the pooled embedding.
        out_indices: Stages returned with ``features_only`` (indices of
            ``timm_model.feature_info``; negative from the end).
        init_cfg: MMEngine init config (timm initialises the model itself).
        **kwargs: Other ``timm.create_model`` arguments (``drop_path_rate``,
            ``img_size`` ...).
    """

    def __init__(self,
                 model_name: str,
                 features_only: bool = False,
                 out_indices: Optional[Sequence[int]] = None,
                 init_cfg: Optional[Union[dict, list]] = None,
                 **kwargs):
        super().__init__(init_cfg=init_cfg)
        for key in ('pretrained', 'pretrained_cfg_overlay', 'checkpoint_path'):
            if kwargs.get(key):
                raise TypeError(
                    f'TimmBackbone does not take `{key}` (it would read or '
                    'download weights at build time); load a local file '
                    "with FrozenTeacher(checkpoint=..., source='timm') or "
                    "init_cfg=dict(type='Pretrained', ...).")
        if kwargs.pop('num_classes', 0):
            raise TypeError('TimmBackbone has no classifier: num_classes '
                            'must be 0')
        self.model_name = model_name
        self.model_kwargs = dict(kwargs)
        self.features_only = features_only
        self.timm_model = timm.create_model(model_name, pretrained=False,
                                            num_classes=0, **kwargs)
        if features_only and not hasattr(self.timm_model,
                                         'forward_intermediates'):
            raise ValueError(
                f'timm model {model_name!r} has no forward_intermediates, '
                'so TimmBackbone cannot return its stage maps; use '
                "MMPretrain's TIMMBackbone(features_only=True) instead")
        num_stages = len(getattr(self.timm_model, 'feature_info', ()))
        if out_indices is None:
            out_indices = range(num_stages) if num_stages else (-1, )
        self.out_indices: Tuple[int, ...] = tuple(
            i % num_stages if num_stages else i for i in out_indices)
        if features_only:
            self._freeze_unused()

    def _freeze_unused(self) -> None:
        """``requires_grad=False`` on the parameters that timm's
        ``prune_intermediate_layers`` (on a copy) drops for
        ``out_indices``: ``forward_intermediates`` never reaches them."""
        pruned = copy.deepcopy(self.timm_model)
        pruned.prune_intermediate_layers(sorted(set(self.out_indices)),
                                         prune_norm=True, prune_head=True)
        used = {name for name, _ in pruned.named_parameters()}
        for name, param in self.timm_model.named_parameters():
            if name not in used:
                param.requires_grad_(False)

    @property
    def num_features(self) -> int:
        """D of the pooled embedding."""
        return self.timm_model.num_features

    def stage_channels(self) -> Tuple[int, ...]:
        """Channels of the stage maps at ``out_indices``."""
        info = self.timm_model.feature_info
        return tuple(info[i]['num_chs'] for i in self.out_indices)

    def init_weights(self) -> None:
        """timm initialised the model; only an explicit ``init_cfg`` (such
        as ``Pretrained``) acts here."""
        if self.init_cfg:
            super().init_weights()

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        model = self.timm_model
        if not self.features_only:
            return (model.forward_head(model.forward_features(x),
                                       pre_logits=True), )
        maps = model.forward_intermediates(
            x, indices=sorted(set(self.out_indices)), intermediates_only=True)
        by_index = dict(zip(sorted(set(self.out_indices)), maps))
        return tuple(by_index[i] for i in self.out_indices)
