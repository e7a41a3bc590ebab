"""Data preprocessors: batches from the dataloader to the networks' input."""
from .gpu_augment import GPUMultiViewAugment
from .self_sup import SelfSupDataPreprocessor

__all__ = ['GPUMultiViewAugment', 'SelfSupDataPreprocessor']
