"""Losses shared by the distillation methods."""
from .cosine_similarity import CosineSimilarityLoss
from .dense_feature import DenseFeatureLoss
from .dino_loss import DINOLoss, crop_pairs, teacher_temp_at
from .distribution_distill import SimilarityDistillationLoss
from .local_dino_loss import LocalDINOLoss
from .moco import moco_logits
from .ntxent import NTXentLoss

__all__ = ['CosineSimilarityLoss', 'DINOLoss', 'DenseFeatureLoss',
           'LocalDINOLoss', 'NTXentLoss', 'SimilarityDistillationLoss',
           'crop_pairs', 'moco_logits', 'teacher_temp_at']
