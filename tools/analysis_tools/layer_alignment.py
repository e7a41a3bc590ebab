"""Per-block alignment of positive and negative pairs (SDSSL, Jang et al.,
WACV 2023): how similar each block's [CLS] token is for two views of one
image, and for views of different images.

    python tools/analysis_tools/layer_alignment.py
        --model baseline CONFIG CHECKPOINT --model SD CONFIG CHECKPOINT
        [--split test] [--num-per-class 100] [--out alignment.png]
        [--force] [--seed 0] [--batch-size 100] [--num-workers 2]
        [--allow-missing] [--cfg-options ...]

For every output of the backbone (block ``l`` of a ``MultiLayerCLSViT``,
which returns them all) the features are L2-normalised and

* ``pos`` is the mean cosine similarity of view 0 and view 1 of the same
  image;
* ``neg`` is the mean cosine similarity of view 0 of image ``i`` and view 1
  of image ``j != i``, over all such pairs within each batch.

The images are a class-balanced subset (``--num-per-class`` per class, chosen
with ``--seed``) of ``--split`` under the data root of the config's
``train_dataloader.dataset``; the two views are views 0 and 1 of that
dataset's own (``MultiView``) pipeline.  Every model gets the same images,
and the augmentations are drawn from random generators reset to ``--seed``
for each model, so models whose configs share the pipeline see exactly the
same views.  CHECKPOINT may be ``random`` for the network at
initialisation (also seeded); one whose keys are not those of its config's
model stops the tool unless ``--allow-missing``.  The tool prints one row
per block (columns ``pos`` and ``neg`` for each model) and plots both
against the block; OUT is never overwritten without ``--force``.
"""
import argparse
import sys
from typing import Dict, List, Optional, Tuple

import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import set_random_seed
from torch import nn
from torch.utils.data import DataLoader

import mmssl_kd  # noqa: F401  (registries, safe checkpoint loader)
from mmssl_kd.cli import (
    add_model_comparison_arguments,
    load_config,
    load_model,
)
from mmssl_kd.evaluation.blocks import block_features, subset_dataloader
from mmssl_kd.evaluation.knn import _eval_mode
from mmssl_kd.visualization import add_force_argument, refuse_overwrite

Curves = Tuple[List[float], List[float]]


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Per-block positive / negative pair alignment of the '
        '[CLS] tokens of one or more models')
    add_model_comparison_arguments(parser, 'a line of the plot',
                                   num_per_class=100)
    parser.add_argument('--out', default='alignment.png',
                        help='PNG file of the plot (default alignment.png)')
    add_force_argument(parser)
    return parser.parse_args(argv)


def two_view_dataloader(cfg: Config, split: str, num_per_class: int,
                        batch_size: int, num_workers: int,
                        seed: int) -> DataLoader:
    """``num_per_class`` images per class of ``split``, through the
    pipeline of ``cfg.train_dataloader.dataset``, in a fixed order."""
    train = cfg.train_dataloader.dataset
    if not train.get('data_root') or not train.get('pipeline'):
        raise ValueError(
            'layer_alignment.py reads data_root and the MultiView pipeline '
            'of train_dataloader.dataset; this config has '
            f"data_root={train.get('data_root')!r} and "
            f"pipeline={train.get('pipeline')!r}.")
    return subset_dataloader(train.data_root, split, num_per_class,
                             train.pipeline, batch_size, num_workers, seed)


def layer_alignment(model: nn.Module, dataloader: DataLoader) -> Curves:
    """Mean cosine similarity of positive and of negative pairs per block.

    Each batch of ``dataloader`` goes through ``model.data_preprocessor``
    and must give at least two views; views 0 and 1 of every image go
    through ``model.backbone``.  A positive pair is (view 0 of image i,
    view 1 of image i), a negative pair (view 0 of image i, view 1 of image
    j), i != j, within one batch; the means are over all such pairs.

    Returns:
        ``(pos, neg)``: lists of one float per backbone output (block 1
        first).
    """
    pos_sum = neg_sum = 0  # become (L,) tensors
    num_pos = num_neg = 0
    with _eval_mode(model):
        for data in dataloader:
            views = model.data_preprocessor(data, False)['inputs']
            if not isinstance(views, (list, tuple)) or len(views) < 2:
                raise ValueError(
                    'layer alignment needs two views per image: give '
                    'train_dataloader.dataset a MultiView pipeline with at '
                    'least 2 views, and the dataloader '
                    "collate_fn=dict(type='default_collate').")
            size = len(views[0])
            feats = block_features(model.backbone,
                                  torch.cat([views[0], views[1]]))
            # (L, B, B): sims[l, i, j] = <view 0 of i, view 1 of j>
            sims = torch.stack([f[:size] @ f[size:].T for f in feats]).double()
            diag = sims.diagonal(dim1=1, dim2=2).sum(dim=1)
            pos_sum = pos_sum + diag
            neg_sum = neg_sum + sims.sum(dim=(1, 2)) - diag
            num_pos += size
            num_neg += size * (size - 1)
    if num_neg == 0:
        raise ValueError('negative pairs need batches of at least 2 images')
    return ((pos_sum / num_pos).tolist(), (neg_sum / num_neg).tolist())


def model_alignment(cfg: Config, checkpoint: str, split: str,
                    num_per_class: int, batch_size: int, num_workers: int,
                    seed: int, allow_missing: bool = False) -> Curves:
    """:func:`layer_alignment` of the model of ``cfg`` and ``checkpoint``
    (see :func:`mmssl_kd.cli.load_model` for ``allow_missing``), the
    augmentations drawn from generators seeded with ``seed``."""
    init_default_scope(cfg.get('default_scope', 'mmssl_kd'))
    set_random_seed(seed)
    model = load_model(cfg, checkpoint, allow_missing)
    model.to('cuda' if torch.cuda.is_available() else 'cpu')
    dataloader = two_view_dataloader(cfg, split, num_per_class, batch_size,
                                     num_workers, seed)
    set_random_seed(seed)  # the same augmentations, whatever came before
    return layer_alignment(model, dataloader)


def format_table(results: Dict[str, Curves]) -> List[str]:
    """Header and one row per block: ``pos`` and ``neg`` of every model."""
    width = max([9] + [len(label) + 6 for label in results])
    header = f"{'block':>5} " + ''.join(
        f'{label + " pos":>{width}}{label + " neg":>{width}}'
        for label in results)
    depth = max(len(pos) for pos, _ in results.values())
    rows = [header]
    for block in range(depth):
        row = f'{block + 1:>5} '
        for pos, neg in results.values():
            row += ''.join(f'{c[block]:>{width}.4f}' if block < len(c) else
                           ' ' * width for c in (pos, neg))
        rows.append(row)
    return rows


def plot_alignment(results: Dict[str, Curves]) -> Figure:
    """Two panels, positive and negative alignment against the block, one
    line per model (matplotlib's ``Figure``: no pyplot, PNGs via Agg)."""
    fig = Figure(figsize=(10, 4), layout='constrained')
    axes = fig.subplots(1, 2)
    titles = ('Positive pairs (two views of one image)',
              'Negative pairs (views of different images)')
    for index, (ax, title) in enumerate(zip(axes, titles)):
        for label, curves in results.items():
            values = curves[index]
            ax.plot(range(1, len(values) + 1), values, marker='o',
                    label=label)
        ax.set_title(title)
        ax.set_xlabel('block')
        ax.set_ylabel('mean cosine similarity of [CLS]')
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    return fig


def main(argv: Optional[List[str]] = None) -> Dict[str, Curves]:
    args = parse_args(argv)
    refuse_overwrite(args.out, args.force, 'layer_alignment.py')
    labels = [label for label, _, _ in args.model]
    if len(set(labels)) != len(labels):
        sys.exit(f'--model labels must differ, got {labels}')
    results = {}
    for label, config, checkpoint in args.model:
        cfg = load_config(config, args.cfg_options,
                          trusted=args.trust_checkpoint)
        try:
            results[label] = model_alignment(
                cfg, checkpoint, args.split, args.num_per_class,
                args.batch_size, args.num_workers, args.seed,
                args.allow_missing)
        except ValueError as err:
            sys.exit(f'{label} ({config}): {err}')
    print(f'Mean cosine similarity of the L2-normalised [CLS] token per '
          f'block: split {args.split!r}, {args.num_per_class} images per '
          f'class, views 0 and 1, seed {args.seed}')
    print('\n'.join(format_table(results)))
    fig = plot_alignment(results)
    fig.savefig(args.out, dpi=150)
    print(f'Plot: {args.out}')
    return results


if __name__ == '__main__':
    main()
