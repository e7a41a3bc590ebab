"""Weighted k-nearest-neighbour evaluation of frozen features.

The classifier is the one of DINO's ``eval_knn.py`` (Caron et al., 2021),
itself from Wu et al. (2018): features are L2-normalised, the ``k`` most
cosine-similar bank images of a query vote for their class with weight
``exp(sim / T)``, and the class with the largest vote is the prediction.

:func:`weighted_knn` is the classifier, :class:`KNNAccuracy` the same as
an MMEngine metric, and :func:`knn_evaluate` runs it on a model's features.
"""
import logging
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.dist import collect_results, get_world_size, is_main_process
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from torch import nn
from torch.utils.data import DataLoader

from mmssl_kd.models.algorithms import declared_nets
from mmssl_kd.models.utils import to_vector
from ..registry import METRICS


def _check_ks(ks: Sequence[int]) -> List[int]:
    ks = [int(k) for k in ks]
    if not ks or min(ks) < 1:
        raise ValueError(f'ks must be a non-empty list of positive ints, '
                         f'got {ks}')
    return ks


def weighted_knn(train_feats: torch.Tensor,
                 train_labels: torch.Tensor,
                 test_feats: torch.Tensor,
                 test_labels: torch.Tensor,
                 num_classes: int,
                 ks: Sequence[int] = (10, 20, 200),
                 temperature: float = 0.07,
                 chunk_size: int = 128) -> Dict[str, float]:
    """Top-1 (and top-5) accuracy in percent of a weighted kNN classifier.

    As in DINO's ``eval_knn.py``: cosine similarity of L2-normalised
    features, the ``k`` nearest bank images vote for their class with
    weight ``exp(sim / temperature)``.  The top ``max(ks)`` neighbours are
    found once and sliced for each ``k``; the test set is processed
    ``chunk_size`` images at a time, so memory is
    ``O(chunk_size * (len(train_feats) + num_classes))``.  Equal votes go
    to the lower class index, the order of a stable sort of the votes;
    DINO's (and MMSelfSup's copy of it) ``probs.sort(1, True)`` leaves ties
    to PyTorch's unstable sort, whose order depends on the device and the
    number of classes (on a CPU, the lower index first up to 16 classes,
    the higher one for 17 or more, scrambled for larger tied sets), so no
    direction is the official one; ties arise in practice only from
    collapsed features.  A class without votes is never counted as
    predicted (so top-5 with ``k < 5`` is well defined).  A ``k`` larger
    than the bank uses the whole bank (a warning says so; the key keeps the
    requested ``k``).

    Args:
        train_feats: ``(N, C)`` bank features.
        train_labels: ``(N,)`` bank labels in ``[0, num_classes)``.
        test_feats: ``(M, C)`` query features.
        test_labels: ``(M,)`` query labels.
        num_classes: number of classes.
        ks: numbers of neighbours to evaluate.
        temperature: ``T`` of the vote weights.
        chunk_size: query images per chunk.

    Returns:
        ``{'top1_k<k>': acc, ...}``, plus ``'top5_k<k>'`` when
        ``num_classes >= 5``.
    """
    ks = _check_ks(ks)
    if temperature <= 0:
        raise ValueError(f'temperature must be > 0, got {temperature}')
    if chunk_size < 1:
        raise ValueError(f'chunk_size must be >= 1, got {chunk_size}')
    num_train, num_test = len(train_feats), len(test_feats)
    if num_train == 0 or num_test == 0:
        raise ValueError(f'weighted_knn needs bank and query images, got '
                         f'{num_train} bank and {num_test} query images')
    if len(train_labels) != num_train or len(test_labels) != num_test:
        raise ValueError('features and labels differ in length')
    device = train_feats.device
    train_labels = train_labels.to(device).long()
    test_labels = test_labels.to(device).long()
    for name, labels in (('bank', train_labels), ('query', test_labels)):
        if labels.min() < 0 or labels.max() >= num_classes:
            raise ValueError(f'{name} labels must lie in [0, {num_classes})')

    for k in sorted(set(ks)):
        if k > num_train:
            print_log(f'kNN: k={k} exceeds the {num_train} bank images; '
                      f'top1_k{k} uses all of them.', logger='current',
                      level=logging.WARNING)
    k_max = min(max(ks), num_train)
    train = F.normalize(train_feats.float(), dim=1)
    test = F.normalize(test_feats.to(device).float(), dim=1)
    classes = torch.arange(num_classes, device=device)
    correct1 = {k: 0 for k in ks}
    correct5 = {k: 0 for k in ks}
    for start in range(0, num_test, chunk_size):
        query = test[start:start + chunk_size]
        target = test_labels[start:start + chunk_size]
        sims, idx = (query @ train.T).topk(k_max, dim=1)  # sorted, desc.
        # exp(sim / T), shifted by each row's maximum so a small T cannot
        # overflow; a per-row factor does not change the vote ranking.
        weights = ((sims - sims[:, :1]) / temperature).exp()
        neighbour_labels = train_labels[idx]
        for k in set(ks):
            kk = min(k, k_max)
            votes = torch.zeros(len(query), num_classes, device=device)
            votes.scatter_add_(1, neighbour_labels[:, :kk], weights[:, :kk])
            # rank of the true class: classes with more votes, or as many
            # and a lower index, come first; a class without votes never
            # counts as predicted
            label_votes = votes.gather(1, target[:, None])
            ahead = (votes > label_votes) | ((votes == label_votes) &
                                             (classes < target[:, None]))
            rank = ahead.sum(dim=1)
            voted = label_votes[:, 0] > 0
            correct1[k] += int((voted & (rank == 0)).sum())
            correct5[k] += int((voted & (rank < 5)).sum())

    results = {f'top1_k{k}': 100.0 * correct1[k] / num_test for k in ks}
    if num_classes >= 5:
        results.update(
            {f'top5_k{k}': 100.0 * correct5[k] / num_test for k in ks})
    return results


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


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode and no grad inside; every submodule's mode restored after."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for module, training in modes:
            module.training = training


class SubModelFeatures(nn.Module):
    """A sub-model's backbone, or one block of it, behind ``model``'s data
    preprocessor.

    Gives :func:`knn_evaluate` (which needs ``data_preprocessor`` and
    ``extract_feat``) the features of the backbone of the network the
    model declares as ``part`` (:func:`declared_nets`: DoGo's ``peer``,
    SEED's ``teacher``, an EMA teacher, SDSSL's ``target``;
    ``'backbone'`` is the student) and, with ``block``, of one of its
    outputs: ``block`` counts from 1 (the paper's layer numbers for
    SDSSL's ``MultiLayerCLSViT``, which returns every block).
    """

    def __init__(self, model: nn.Module, part: str = 'backbone',
                 block: Optional[int] = None):
        super().__init__()
        nets = declared_nets(model)
        if part not in nets:
            raise ValueError(
                f'part {part!r}: {type(model).__name__} has no sub-model '
                f'`{part}` with a backbone; it declares {list(nets)} '
                "('backbone' is the trained student).")
        if block is not None and block < 1:
            raise ValueError(f'block counts from 1, got {block}')
        self.data_preprocessor = model.data_preprocessor
        self.backbone = nets[part].backbone
        self.block = block

    def extract_feat(self, inputs: torch.Tensor):
        """Backbone features of the sub-model (of one block)."""
        out = self.backbone(inputs)
        if self.block is None:
            return out
        return (_select_blocks(out, [self.block])[0], )


def part_model(model: nn.Module, part: str = 'backbone',
               block: Optional[int] = None) -> nn.Module:
    """``model`` itself for its backbone's default features, else
    :class:`SubModelFeatures`."""
    if part == 'backbone' and block is None:
        return model
    return SubModelFeatures(model, part, block)


def _select_blocks(out, blocks: Sequence[int]) -> List[torch.Tensor]:
    """Outputs ``blocks`` (counted from 1) of a backbone that returns one
    output per block."""
    hint = ('per-block features need a backbone that returns every block, '
            'e.g. MultiLayerCLSViT')
    if not isinstance(out, (tuple, list)):
        raise ValueError(f'blocks {list(blocks)}: the backbone gives one '
                         f'tensor; {hint}.')
    num = len(out)
    bad = [block for block in blocks if not 1 <= block <= num]
    if bad:
        raise ValueError(
            f'block {bad[0]}: the backbone gives {num} outputs (depth '
            f'{num}); choose blocks from 1 to {num} ({hint}).')
    return [out[block - 1] for block in blocks]


def _batch_features(model: nn.Module, data: dict,
                    blocks: Optional[Sequence[int]] = None
                    ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Features ``(B, C)`` (``(B, len(blocks), C)`` with ``blocks``, from
    one forward) and labels ``(B,)`` of one dataloader batch.

    The labels come from ``data['gt_label']`` (a device-resident loader's
    label tensor) or else from the data samples.  The caller sets eval mode
    and ``no_grad`` (see :func:`extract_features`).
    """
    labels = data.get('gt_label')
    data = model.data_preprocessor(data, False)
    inputs = data['inputs']
    if isinstance(inputs, (list, tuple)):  # SelfSupDataPreprocessor: views
        inputs = inputs[0]
    if not (torch.is_tensor(inputs) and inputs.dim() == 4):
        raise ValueError(
            'kNN expects a batch of images (B, C, H, W); set '
            "collate_fn=dict(type='default_collate') and a single-view "
            'pipeline in the kNN dataloaders.')
    samples = data['data_samples']
    if labels is None:
        if samples is None or not all(s.get('gt_label') is not None
                                      for s in samples):
            raise ValueError('kNN dataloaders must give labelled samples '
                             '(data_samples[i].gt_label).')
        labels = torch.as_tensor([int(s.gt_label) for s in samples])
    out = model.extract_feat(inputs)
    if blocks is None:
        feats = to_vector(out, 'kNN')
    else:
        feats = torch.stack(
            [to_vector(o, 'kNN') for o in _select_blocks(out, blocks)], dim=1)
    return feats, labels


def extract_features(model: nn.Module, dataloader: DataLoader,
                     blocks: Optional[Sequence[int]] = None
                     ) -> Tuple[Optional[torch.Tensor],
                                Optional[torch.Tensor]]:
    """Features ``(N, C)`` and labels ``(N,)`` of a dataset, in its order;
    with ``blocks``, ``(N, len(blocks), C)`` from one pass.

    The model runs in eval mode under ``no_grad`` and gets its modes back
    afterwards.  In a distributed run every rank extracts its part and
    rank 0 collects them (``mmengine.dist.collect_results``, which keeps
    the dataset order for mmengine's ``DefaultSampler`` and drops its
    padding); the other ranks get ``(None, None)``.  Tensors are on the CPU.
    """
    if get_world_size() == 1:
        with _eval_mode(model):
            batches = [_batch_features(model, data, blocks)
                       for data in dataloader]
        feats, labels = zip(*batches)  # one copy to the host, not N
        return torch.cat(feats).cpu(), torch.cat(labels).cpu()
    part = []
    with _eval_mode(model):
        for data in dataloader:
            feats, labels = _batch_features(model, data, blocks)
            # one copy per image: a view would pickle the whole batch
            part.extend((f.to('cpu', copy=True), label)
                        for f, label in zip(feats, labels.tolist()))
    results = collect_results(part, len(dataloader.dataset))
    if results is None:
        return None, None
    feats, labels = zip(*results)
    return torch.stack(feats), torch.as_tensor(labels)


def knn_evaluate(model: nn.Module,
                 bank_dataloader: DataLoader,
                 query_dataloader: DataLoader,
                 ks: Sequence[int] = (10, 20, 200),
                 temperature: float = 0.07,
                 blocks: Optional[Sequence[int]] = None) -> Dict[str, float]:
    """Weighted kNN accuracy of ``model``'s features, query set vs. bank.

    The bank features come from :func:`extract_features`; the query
    features go through :class:`~mmssl_kd.evaluation.KNNAccuracy`, whose
    ``evaluate`` gathers them across ranks and runs :func:`weighted_knn`.
    The classifier runs on the model's device.  Every rank gets the result.

    With ``blocks`` (counted from 1; a backbone that returns every block,
    such as SDSSL's ``MultiLayerCLSViT``), every block is evaluated from
    the same forward passes.

    Returns:
        The keys of :func:`weighted_knn` (``'top1_k20'``, ...); with
        ``blocks``, prefixed per block (``'block3/top1_k20'``).
    """
    names = [''] if blocks is None else [f'block{b}/' for b in blocks]
    metrics = [KNNAccuracy(ks=ks, temperature=temperature) for _ in names]
    bank_feats, bank_labels = extract_features(model, bank_dataloader,
                                               blocks)
    if is_main_process():
        metainfo = getattr(bank_dataloader.dataset, 'metainfo', {})
        classes = metainfo.get('classes')
        num_classes = len(classes) if classes else int(bank_labels.max()) + 1
        device = next(model.parameters(), torch.empty(0)).device
        bank_feats = bank_feats.to(device)
        for i, metric in enumerate(metrics):
            feats = bank_feats if blocks is None else bank_feats[:, i]
            metric.set_bank(feats, bank_labels, num_classes)
    with _eval_mode(model):
        for data in query_dataloader:
            feats, labels = _batch_features(model, data, blocks)
            feats, labels = feats.cpu(), labels.tolist()  # one copy a batch
            for i, metric in enumerate(metrics):
                block = feats if blocks is None else feats[:, i]
                metric.process(data, [dict(feat=f, gt_label=label)
                                      for f, label in zip(block, labels)])
    results = {}
    for name, metric in zip(names, metrics):
        results.update({name + key.split('/', 1)[-1]: value for key, value
                        in metric.evaluate(len(query_dataloader.dataset))
                        .items()})
    return results
