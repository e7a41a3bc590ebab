"""What the feature-map tools (tools/visualization/tsne.py, tsne_layers.py)
share: the options, a seeded class-balanced image subset per model, its
L2-normalised features (of any part, or of chosen blocks, as
tools/benchmarks/knn.py extracts them), 2-D maps (t-SNE or UMAP), the
silhouette score of the classes and the figure.

Needs scikit-learn, and umap-learn for UMAP (:func:`check_packages` says
what to install).
"""
import argparse
import importlib.util
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib import colormaps
from matplotlib.figure import Figure
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import set_random_seed
from torch import nn
from torch.utils.data import DataLoader

from mmssl_kd.cli import load_config, load_model
from mmssl_kd.evaluation.blocks import subset_dataloader
from mmssl_kd.evaluation.knn import extract_features, part_model

#: The kNN pipeline of configs/_base_/datasets/cifar10_ssl.py.
DEFAULT_PIPELINE = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
#: Dots per inch of the saved figures.
DPI = 150

#: Model label -> one (N, C) feature tensor per panel (block).
Features = Dict[str, List[torch.Tensor]]
#: ``[[(title, (N, 2) map), ...], ...]``: the panels, row by row.
Panels = List[List[Tuple[str, np.ndarray]]]


def add_embedding_arguments(parser: argparse.ArgumentParser,
                            default_out: str) -> None:
    """``--out``, ``--force``, ``--method`` and ``--perplexity``."""
    parser.add_argument('--out', default=default_out,
                        help=f'PNG file of the figure (default {default_out})')
    add_force_argument(parser)
    parser.add_argument('--method', choices=('tsne', 'umap'), default='tsne',
                        help='2-D embedding: t-SNE (scikit-learn, default) '
                        'or UMAP (umap-learn)')
    parser.add_argument('--perplexity', type=float, default=30.0,
                        help='t-SNE perplexity (default 30; at most the '
                        'number of images - 1)')


def add_force_argument(parser: argparse.ArgumentParser) -> None:
    """``--force``: let :func:`refuse_overwrite` pass."""
    parser.add_argument('--force', action='store_true',
                        help='overwrite OUT if it exists')


def refuse_overwrite(path: str, force: bool, tool: str) -> None:
    """Exit naming ``--force`` if ``path`` exists and ``force`` is off (the
    plotting tools never overwrite a figure silently)."""
    if osp.exists(path) and not force:
        sys.exit(f'{tool}: {path} exists; pass --force to overwrite it')


def check_packages(method: str) -> None:
    """Raise ``ModuleNotFoundError`` with the ``pip install`` line if a
    package that ``--method`` needs is missing."""
    needed = [('sklearn', 'scikit-learn', '')]
    if method == 'umap':
        needed.append(('umap', 'umap-learn', ' (or pip install -e ".[umap]")'))
    for module, package, extra in needed:
        if importlib.util.find_spec(module) is None:
            raise ModuleNotFoundError(
                f'--method {method} needs {package}, which is not '
                f'installed: pip install {package}{extra}')


def feature_pipeline(cfg: Config) -> list:
    """The pipeline of the KNNHook's query dataset, else
    :data:`DEFAULT_PIPELINE`."""
    for hook in cfg.get('custom_hooks') or []:
        if hook.get('type') in ('KNNHook', 'mmssl_kd.KNNHook'):
            query = hook.get('query_dataloader', {}).get('dataset', {})
            if query.get('pipeline'):
                return query['pipeline']
    return DEFAULT_PIPELINE


def image_dataloader(cfg: Config, split: str, num_per_class: int,
                     batch_size: int, num_workers: int,
                     seed: int) -> DataLoader:
    """``num_per_class`` images per class (chosen with ``seed``) of
    ``split`` under the data root of ``cfg.train_dataloader.dataset``,
    single views through :func:`feature_pipeline`, in a fixed order."""
    data_root = cfg.train_dataloader.dataset.get('data_root')
    if not data_root:
        raise ValueError('the images are read under the data_root of '
                         'train_dataloader.dataset, which this config does '
                         'not set; add it (or --cfg-options '
                         'train_dataloader.dataset.data_root=DIR).')
    return subset_dataloader(data_root, split, num_per_class,
                             feature_pipeline(cfg), batch_size, num_workers,
                             seed)


def dataset_features(model: nn.Module, dataloader: DataLoader,
                     part: str = 'backbone',
                     blocks: Optional[Sequence[int]] = None
                     ) -> Tuple[List[torch.Tensor], torch.Tensor]:
    """L2-normalised fp32 ``(N, C)`` features of ``model``'s ``part`` (one
    tensor, or one per block of ``blocks``, counted from 1) and the ``(N,)``
    labels, on the CPU, in the dataset's order; the features are those of
    tools/benchmarks/knn.py (``part_model``, ``extract_features``)."""
    feats, labels = extract_features(part_model(model, part), dataloader,
                                     blocks)
    per_panel = [feats] if blocks is None else list(feats.unbind(dim=1))
    return [F.normalize(f.float(), dim=1) for f in per_panel], labels


def compare_features(args: argparse.Namespace,
                     part: Union[str, Sequence[str]] = 'backbone',
                     blocks: Optional[Sequence[int]] = None
                     ) -> Tuple[Features, torch.Tensor, List[str]]:
    """:func:`dataset_features` of every ``--model`` of ``args`` (the options
    of :func:`mmssl_kd.cli.add_model_comparison_arguments`) on the same
    images, a ``'random'`` checkpoint seeded with ``args.seed``; ``part``
    is one sub-model for all of them, or one per model.

    Returns:
        The features per model label, the labels of the images and the
        class names.

    Raises:
        ValueError: naming the model, if labels repeat, a model cannot give
            the features, or two models' configs give different images.
    """
    names = [label for label, _, _ in args.model]
    if len(set(names)) != len(names):
        raise ValueError(f'--model labels must differ, got {names}')
    parts = [part] * len(names) if isinstance(part, str) else list(part)
    if len(parts) != len(names):
        raise ValueError(f'{len(parts)} parts {parts} for {len(names)} '
                         'models: give one part for all or one per --model')
    features, image_labels = {}, None
    for (label, config, checkpoint), part in zip(args.model, parts):
        cfg = load_config(config, args.cfg_options,
                          trusted=args.trust_checkpoint)
        init_default_scope(cfg.get('default_scope', 'mmssl_kd'))
        set_random_seed(args.seed)
        model = load_model(cfg, checkpoint, args.allow_missing)
        model.to('cuda' if torch.cuda.is_available() else 'cpu')
        try:
            dataloader = image_dataloader(cfg, args.split, args.num_per_class,
                                          args.batch_size, args.num_workers,
                                          args.seed)
            features[label], labels = dataset_features(model, dataloader,
                                                       part, blocks)
        except ValueError as err:
            raise ValueError(f'{label} ({config}, part {part!r}): '
                             f'{err}') from err
        if image_labels is not None and not torch.equal(labels,
                                                        image_labels):
            raise ValueError(
                f'{label} ({config}): its train_dataloader.dataset data_root '
                "gives other images than the first model's")
        image_labels = labels
    return features, image_labels, dataloader.dataset.metainfo['classes']


def embed_2d(feats: torch.Tensor, method: str, seed: int,
             perplexity: float) -> np.ndarray:
    """(N, 2) t-SNE or UMAP map of (N, C) features.

    One OpenMP thread: scikit-learn's OpenMP runtime is not torch's, and
    the two thread pools, both spinning, can slow t-SNE down a hundredfold
    on a busy machine.
    """
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency
    num = len(feats)
    if method == 'umap':
        import umap
        reducer = umap.UMAP(n_components=2, n_neighbors=min(15, num - 1),
                            random_state=seed)
    else:
        from sklearn.manifold import TSNE
        reducer = TSNE(n_components=2, perplexity=min(perplexity, num - 1),
                       init='pca', random_state=seed)
    with threadpool_limits(limits=1, user_api='openmp'):
        return reducer.fit_transform(feats.numpy())


def separation(feats: torch.Tensor, labels: torch.Tensor) -> float:
    """Silhouette score of the classes, cosine distance, in the feature
    space (not the 2-D map): higher means better separated classes."""
    from sklearn.metrics import silhouette_score
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1, user_api='openmp'):
        return float(silhouette_score(feats.numpy(), labels.numpy(),
                                      metric='cosine'))


def embed_and_score(features: Features, labels: torch.Tensor, method: str,
                    seed: int, perplexity: float
                    ) -> Tuple[Dict[str, List[np.ndarray]],
                               Dict[str, List[float]]]:
    """:func:`embed_2d` maps and :func:`separation` scores of every
    feature tensor, by model label."""
    maps = {label: [embed_2d(f, method, seed, perplexity) for f in feats]
            for label, feats in features.items()}
    scores = {label: [separation(f, labels) for f in feats]
              for label, feats in features.items()}
    return maps, scores


def plot_grid(panels: Panels, labels: np.ndarray, classes: Sequence[str],
              panel_size: float = 3.0) -> Figure:
    """The panels (rows of ``(title, (N, 2) map)``), points coloured by
    class, one legend of class names on the right (matplotlib's
    ``Figure``: no pyplot, PNGs via Agg; save with ``dpi=DPI``)."""
    if len(classes) <= 20:
        colors = colormaps['tab10' if len(classes) <= 10 else 'tab20'].colors
    else:
        colors = colormaps['turbo'](np.linspace(0, 1, len(classes)))
    num_cols = max(len(row) for row in panels)
    fig = Figure(figsize=(panel_size * num_cols + 1.5,
                          panel_size * len(panels)), layout='constrained')
    axes = fig.subplots(len(panels), num_cols, squeeze=False)
    for ax_row, row in zip(axes, panels):
        for ax, (title, xy) in zip(ax_row, row):
            for c, name in enumerate(classes):
                ax.scatter(*xy[labels == c].T, s=6, color=colors[c],
                           label=name)
            ax.set_title(title)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.legend(*axes[0, 0].get_legend_handles_labels(),
               loc='outside right center', title='class', markerscale=2)
    return fig
