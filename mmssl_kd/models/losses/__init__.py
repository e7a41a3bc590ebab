"""Losses shared by the distillation methods."""
from .distribution_distill import SimilarityDistillationLoss

__all__ = ['SimilarityDistillationLoss']
