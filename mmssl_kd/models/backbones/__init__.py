"""Backbones that MMPretrain and timm lack."""
from .cifar_resnet import CIFARResNet
from .torchvision_backbone import TorchvisionBackbone

__all__ = ['CIFARResNet', 'TorchvisionBackbone']
