"""Losses shared by the distillation methods."""
from .dino_loss import DINOLoss, crop_pairs, teacher_temp_at
from .distribution_distill import SimilarityDistillationLoss
from .local_dino_loss import LocalDINOLoss
from .ntxent import NTXentLoss

__all__ = ['DINOLoss', 'LocalDINOLoss', 'NTXentLoss',
           'SimilarityDistillationLoss', 'crop_pairs', 'teacher_temp_at']
