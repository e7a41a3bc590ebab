"""Evaluation: weighted kNN."""
import mmpretrain.evaluation  # noqa: F401  (parent registry entries)

from .knn import (
                  KNNAccuracy,
                  SubModelFeatures,
                  backbone_of,
                  extract_features,
                  is_backbone,
                  knn_evaluate,
                  part_model,
                  unwrap_averaged,
                  weighted_knn,
)

__all__ = ['weighted_knn', 'extract_features', 'knn_evaluate', 'KNNAccuracy',
           'SubModelFeatures', 'part_model', 'backbone_of', 'is_backbone',
           'unwrap_averaged']
