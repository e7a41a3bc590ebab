"""Per-block t-SNE (or UMAP) of the [CLS] tokens of one or more models.

    python tools/visualization/tsne_layers.py
        --model baseline CONFIG CHECKPOINT --model SD CONFIG CHECKPOINT
        --blocks 1 4 8 12 [--split test] [--num-per-class 50]
        [--out tsne.png] [--seed 0] [--method tsne|umap] [--perplexity 30]
        [--batch-size 100] [--num-workers 2] [--cfg-options ...]

The features are the L2-normalised [CLS] tokens after the chosen blocks
(counted from 1, as returned by ``MultiLayerCLSViT``) of single,
un-augmented images: the pipeline of the ``query_dataloader`` of the
config's ``KNNHook`` (in ``custom_hooks``) if there is one, else
``LoadImageFromFile`` + ``PackInputs``.  The images are a class-balanced
subset (``--num-per-class`` per class, chosen with ``--seed``) of
``--split`` under the data root of the config's ``train_dataloader.dataset``;
every model gets the same images.  The figure has one row per model and
one column per block, points coloured by class.  The tool also prints, per
block and model, the silhouette score of the classes (cosine distance, in
the feature space, not the 2-D map: higher means better separated classes).
CHECKPOINT may be ``random`` for the network at initialisation (seeded).
Needs scikit-learn (``pip install scikit-learn``), and umap-learn for
``--method umap``.
"""
import argparse
import importlib.util
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import set_random_seed
from torch import nn
from torch.utils.data import DataLoader

import mmssl_kd  # noqa: F401  (registries, safe checkpoint loader)
from mmssl_kd.apis import (add_model_comparison_arguments, load_config,
                           load_model)
from mmssl_kd.evaluation.blocks import (block_features, check_blocks,
                                        subset_dataloader)
from mmssl_kd.evaluation.knn import _eval_mode

#: The kNN pipeline of configs/_base_/datasets/cifar10_ssl.py.
DEFAULT_PIPELINE = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Per-block t-SNE / UMAP of the [CLS] tokens of one or '
        'more models')
    add_model_comparison_arguments(parser, 'a row of the figure',
                                   num_per_class=50)
    parser.add_argument('--blocks', type=int, nargs='+', required=True,
                        help='blocks to show (one column each), counted '
                        'from 1, e.g. 1 4 8 12')
    parser.add_argument('--out', default='tsne.png',
                        help='PNG file of the figure (default tsne.png)')
    parser.add_argument('--method', choices=('tsne', 'umap'), default='tsne',
                        help='2-D embedding: t-SNE (scikit-learn, default) '
                        'or UMAP (umap-learn)')
    parser.add_argument('--perplexity', type=float, default=30.0,
                        help='t-SNE perplexity (default 30; at most the '
                        'number of images - 1)')
    return parser.parse_args(argv)


def check_packages(method: str) -> None:
    """Exit with the ``pip install`` line if a needed package is missing."""
    needed = [('sklearn', 'scikit-learn')]
    if method == 'umap':
        needed.append(('umap', 'umap-learn'))
    for module, package in needed:
        if importlib.util.find_spec(module) is None:
            sys.exit(f'tsne_layers.py --method {method} needs {package}, '
                     f'which is not installed: pip install {package}')


def feature_pipeline(cfg: Config) -> list:
    """The pipeline of the KNNHook's query dataset, else the default."""
    for hook in cfg.get('custom_hooks') or []:
        if hook.get('type') in ('KNNHook', 'mmssl_kd.KNNHook'):
            query = hook.get('query_dataloader', {}).get('dataset', {})
            if query.get('pipeline'):
                return query['pipeline']
    return DEFAULT_PIPELINE


def image_dataloader(cfg: Config, split: str, num_per_class: int,
                     batch_size: int, num_workers: int,
                     seed: int) -> DataLoader:
    """``num_per_class`` images per class of ``split``, single views, in a
    fixed order."""
    data_root = cfg.train_dataloader.dataset.get('data_root')
    if not data_root:
        raise ValueError('tsne_layers.py reads the images under the '
                         'data_root of train_dataloader.dataset, which this '
                         'config does not set.')
    return subset_dataloader(data_root, split, num_per_class,
                             feature_pipeline(cfg), batch_size, num_workers,
                             seed)


def blocks_of_dataset(model: nn.Module, dataloader: DataLoader,
                      blocks: Sequence[int]
                      ) -> Tuple[List[torch.Tensor], torch.Tensor]:
    """L2-normalised (N, C) features of each of ``blocks`` (from 1) and the
    (N,) labels, on the CPU, in the dataset's order."""
    feats: List[List[torch.Tensor]] = [[] for _ in blocks]
    labels = []
    with _eval_mode(model):
        for data in dataloader:
            data = model.data_preprocessor(data, False)
            inputs = data['inputs']
            if isinstance(inputs, (list, tuple)):  # SelfSupDataPreprocessor
                inputs = inputs[0]
            outs = block_features(model.backbone, inputs)
            check_blocks(blocks, len(outs))
            for block, store in zip(blocks, feats):
                store.append(outs[block - 1].cpu())
            labels += [int(s.gt_label) for s in data['data_samples']]
    return [torch.cat(f) for f in feats], torch.as_tensor(labels)


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
    """Silhouette score of the classes, cosine distance."""
    from sklearn.metrics import silhouette_score
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1, user_api='openmp'):
        return float(silhouette_score(feats.numpy(), labels.numpy(),
                                      metric='cosine'))


def plot_grid(maps: Dict[str, List[np.ndarray]], labels: np.ndarray,
              classes: Sequence[str], blocks: Sequence[int]) -> Figure:
    """One row per model, one column per block, points coloured by class,
    one legend of class names (matplotlib's ``Figure``: PNGs via Agg)."""
    if len(classes) <= 20:
        colors = colormaps['tab10' if len(classes) <= 10 else 'tab20'].colors
    else:
        colors = colormaps['turbo'](np.linspace(0, 1, len(classes)))
    fig = Figure(figsize=(3 * len(blocks) + 1.5, 3 * len(maps)),
                 layout='constrained')
    axes = fig.subplots(len(maps), len(blocks), squeeze=False)
    for row, (label, points) in zip(axes, maps.items()):
        for ax, block, xy in zip(row, blocks, points):
            for c, name in enumerate(classes):
                ax.scatter(*xy[labels == c].T, s=6, color=colors[c],
                           label=name)
            ax.set_title(f'{label}, block {block}')
            ax.set_xticks([])
            ax.set_yticks([])
    fig.legend(*axes[0, 0].get_legend_handles_labels(),
               loc='outside right center', title='class', markerscale=2)
    return fig


def main(argv: Optional[List[str]] = None) -> Figure:
    args = parse_args(argv)
    check_packages(args.method)
    names = [label for label, _, _ in args.model]
    if len(set(names)) != len(names):
        sys.exit(f'--model labels must differ, got {names}')
    maps, scores, image_labels = {}, {}, None
    for label, config, checkpoint in args.model:
        cfg = load_config(config, args.cfg_options,
                          trusted=args.trust_checkpoint)
        init_default_scope(cfg.get('default_scope', 'mmssl_kd'))
        set_random_seed(args.seed)
        model = load_model(cfg, checkpoint)
        model.to('cuda' if torch.cuda.is_available() else 'cpu')
        dataloader = image_dataloader(cfg, args.split, args.num_per_class,
                                      args.batch_size, args.num_workers,
                                      args.seed)
        try:
            feats, labels = blocks_of_dataset(model, dataloader, args.blocks)
        except ValueError as err:
            sys.exit(f'{label} ({config}): {err}')
        if image_labels is not None and not torch.equal(labels,
                                                        image_labels):
            sys.exit(f'{label} ({config}): its train_dataloader.dataset '
                     'data_root gives other images than the first model\'s')
        image_labels = labels
        maps[label] = [embed_2d(f, args.method, args.seed, args.perplexity)
                       for f in feats]
        scores[label] = [separation(f, labels) for f in feats]
    classes = dataloader.dataset.metainfo['classes']

    width = max([9] + [len(label) + 2 for label in scores])
    print(f'Silhouette score of the classes (cosine) of the L2-normalised '
          f'[CLS] token: split {args.split!r}, {len(labels)} images')
    print(f"{'block':>5} " + ''.join(f'{label:>{width}}' for label in scores))
    for i, block in enumerate(args.blocks):
        print(f'{block:>5} ' + ''.join(f'{s[i]:>{width}.4f}'
                                       for s in scores.values()))
    fig = plot_grid(maps, labels.numpy(), classes, args.blocks)
    fig.savefig(args.out, dpi=150)
    print(f'Figure: {args.out}')
    return fig


if __name__ == '__main__':
    main()
