"""Weighted kNN accuracy as an MMEngine metric."""
from typing import Any, Dict, List, Optional, Sequence

import torch
from mmengine.evaluator import BaseMetric

from ..registry import METRICS
from .knn import weighted_knn


@METRICS.register_module()
class KNNAccuracy(BaseMetric):
    """Weighted kNN top-1/top-5 accuracy of query features against a bank.

    Call :meth:`set_bank` (on the main process) before :meth:`evaluate`;
    :meth:`process` takes ``data_samples`` as dicts with ``'feat'`` (a
    ``(C,)`` tensor) and ``'gt_label'``.  ``BaseMetric.evaluate`` gathers the
    query results of all ranks; :func:`weighted_knn` does the rest, on the
    bank's device.

    Args:
        ks: numbers of neighbours.
        temperature: vote temperature ``T`` (weights ``exp(sim / T)``).
        chunk_size: query images per chunk in :func:`weighted_knn`.
        collect_device, prefix, collect_dir: see ``BaseMetric``.
    """
    default_prefix = 'knn'

    def __init__(self,
                 ks: Sequence[int] = (10, 20, 200),
                 temperature: float = 0.07,
                 chunk_size: int = 128,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device, prefix, collect_dir)
        self.ks = tuple(ks)
        self.temperature = temperature
        self.chunk_size = chunk_size
        self.bank_feats: Optional[torch.Tensor] = None
        self.bank_labels: Optional[torch.Tensor] = None
        self.num_classes: Optional[int] = None

    def set_bank(self, feats: torch.Tensor, labels: torch.Tensor,
                 num_classes: int) -> None:
        """Set the ``(N, C)`` bank features and their ``(N,)`` labels."""
        if len(feats) != len(labels):
            raise ValueError(f'{len(feats)} bank features but {len(labels)} '
                             'labels')
        self.bank_feats = feats
        self.bank_labels = torch.as_tensor(labels)
        self.num_classes = int(num_classes)

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Keep each query sample's feature (a copy, on the CPU) and label."""
        for sample in data_samples:
            feat = sample['feat'].detach().to('cpu', copy=True)
            self.results.append(dict(feat=feat,
                                     gt_label=int(sample['gt_label'])))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Run :func:`weighted_knn` on the gathered query results."""
        if self.bank_feats is None:
            raise RuntimeError('KNNAccuracy: call set_bank() before '
                               'evaluate().')
        return weighted_knn(
            self.bank_feats, self.bank_labels,
            torch.stack([r['feat'] for r in results]),
            torch.as_tensor([r['gt_label'] for r in results]),
            self.num_classes, self.ks, self.temperature, self.chunk_size)
