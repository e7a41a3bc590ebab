"""Evaluation: weighted kNN."""
import mmpretrain.evaluation  # noqa: F401  (parent registry entries)
