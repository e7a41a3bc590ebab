"""Evaluation: weighted kNN."""
import mmpretrain.evaluation  # noqa: F401  (parent registry entries)

from .knn import (
    KNNAccuracy,
    SubModelFeatures,
    extract_features,
    knn_evaluate,
    part_model,
    weighted_knn,
)

__all__ = ['weighted_knn', 'extract_features', 'knn_evaluate', 'KNNAccuracy',
           'SubModelFeatures', 'part_model']
