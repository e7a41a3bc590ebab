"""Backbones that MMPretrain and timm lack, and wrappers of timm's and
torchvision's models."""
from .cifar_resnet import CIFARResNet
from .foundation_vit import FoundationViT
from .multilayer_vit import MultiLayerCLSViT
from .timm_backbone import TimmBackbone
from .torchvision_backbone import TorchvisionBackbone

__all__ = ['CIFARResNet', 'FoundationViT', 'MultiLayerCLSViT',
           'TimmBackbone', 'TorchvisionBackbone']
