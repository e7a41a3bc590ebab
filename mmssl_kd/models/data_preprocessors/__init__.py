"""Data preprocessors: batches from the dataloader to the networks' input."""
from .self_sup import SelfSupDataPreprocessor

__all__ = ['SelfSupDataPreprocessor']
