"""A torchvision classification model as an MMPretrain-style backbone."""
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
import torchvision
from mmengine.model import BaseModule

from mmssl_kd.registry import MODELS


@MODELS.register_module()
class TorchvisionBackbone(BaseModule):
    """``torchvision.models.<name>(weights=None, **kwargs)`` without its
    classifier.

    The last ``nn.Linear`` of the model (``fc`` of a ResNet,
    ``classifier.3`` of MobileNetV3-L, ``heads.head`` of a ViT ...) is
    replaced by ``nn.Identity``, so :meth:`forward` returns the **pooled
    features** that the classifier would read: a 1-tuple holding a (B, D)
    tensor (2048 for ResNet-50, 1280 for MobileNetV3-L).  The model sits
    at ``self.torchvision_model``, its keys are torchvision's under that
    prefix, and :attr:`classifier_name` names the removed layer (its keys in
    a torchvision state dict are not the backbone's).  Nothing is
    downloaded: load weights from a local file, e.g. with
    :class:`mmssl_kd.models.FrozenTeacher` (``source='torchvision'``).

    Args:
        name: A torchvision classification model, e.g. ``'resnet50'``.
        init_cfg: MMEngine init config (torchvision initialises the model
            itself by default).
        **kwargs: Other arguments of the torchvision model builder.
    """

    def __init__(self, name: str,
                 init_cfg: Optional[Union[dict, list]] = None, **kwargs):
        super().__init__(init_cfg=init_cfg)
        for key in ('weights', 'pretrained'):
            if key in kwargs:
                raise TypeError(
                    f'TorchvisionBackbone does not take `{key}` (it would '
                    'download weights); load a local file instead, e.g. '
                    "FrozenTeacher(checkpoint=..., source='torchvision').")
        self.name = name
        self.torchvision_model = torchvision.models.get_model(
            name, weights=None, **kwargs)
        linears = [n for n, m in self.torchvision_model.named_modules()
                   if isinstance(m, nn.Linear)]
        if not linears:
            raise ValueError(f'torchvision model {name!r} has no nn.Linear '
                             'classifier to remove')
        self.classifier_name = linears[-1]
        parent, _, child = self.classifier_name.rpartition('.')
        setattr(self.torchvision_model.get_submodule(parent), child,
                nn.Identity())

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor]:
        return (self.torchvision_model(x), )
