"""Losses shared by the distillation methods."""
from .distribution_distill import SimilarityDistillationLoss
from .ntxent import NTXentLoss

__all__ = ['SimilarityDistillationLoss', 'NTXentLoss']
