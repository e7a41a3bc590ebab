"""Backbones that MMPretrain and timm lack."""
from .cifar_resnet import CIFARResNet

__all__ = ['CIFARResNet']
