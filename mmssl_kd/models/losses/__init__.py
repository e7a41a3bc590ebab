"""Losses shared by the distillation methods."""
from .dino_loss import DINOLoss, teacher_temp_at
from .distribution_distill import SimilarityDistillationLoss
from .ntxent import NTXentLoss

__all__ = ['DINOLoss', 'SimilarityDistillationLoss', 'NTXentLoss',
           'teacher_temp_at']
