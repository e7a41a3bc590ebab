"""Backbones that MMPretrain and timm lack."""
from .cifar_resnet import CIFARResNet
from .multilayer_vit import MultiLayerCLSViT
from .torchvision_backbone import TorchvisionBackbone

__all__ = ['CIFARResNet', 'MultiLayerCLSViT', 'TorchvisionBackbone']
