"""Per-block t-SNE (or UMAP) of the [CLS] tokens of one or more models.

    python tools/visualization/tsne_layers.py
        --model baseline CONFIG CHECKPOINT --model SD CONFIG CHECKPOINT
        --blocks 1 4 8 12 [--split test] [--num-per-class 50]
        [--out tsne.png] [--force] [--seed 0] [--method tsne|umap]
        [--perplexity 30]
        [--batch-size 100] [--num-workers 2] [--allow-missing]
        [--cfg-options ...]

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
CHECKPOINT may be ``random`` for the network at initialisation (seeded);
one whose keys are not those of its config's model stops the tool unless
``--allow-missing``.  OUT is never overwritten without ``--force``.
Needs scikit-learn (``pip install scikit-learn``), and umap-learn for
``--method umap``.
"""
import argparse
import sys
from typing import List, Optional

from matplotlib.figure import Figure

import mmssl_kd  # noqa: F401  (registries, safe checkpoint loader)
from mmssl_kd.cli import add_model_comparison_arguments
from mmssl_kd.visualization import (
    DPI,
    add_embedding_arguments,
    check_packages,
    compare_features,
    embed_and_score,
    plot_grid,
    refuse_overwrite,
)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Per-block t-SNE / UMAP of the [CLS] tokens of one or '
        'more models')
    add_model_comparison_arguments(parser, 'a row of the figure',
                                   num_per_class=50)
    parser.add_argument('--blocks', type=int, nargs='+', required=True,
                        help='blocks to show (one column each), counted '
                        'from 1, e.g. 1 4 8 12')
    add_embedding_arguments(parser, default_out='tsne.png')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> Figure:
    args = parse_args(argv)
    refuse_overwrite(args.out, args.force, 'tsne_layers.py')
    try:
        check_packages(args.method)
        features, labels, classes = compare_features(args,
                                                      blocks=args.blocks)
    except (ModuleNotFoundError, ValueError) as err:
        sys.exit(f'tsne_layers.py: {err}')
    maps, scores = embed_and_score(features, labels, args.method, args.seed,
                                   args.perplexity)

    width = max([9] + [len(label) + 2 for label in scores])
    print(f'Silhouette score of the classes (cosine) of the L2-normalised '
          f'[CLS] token: split {args.split!r}, {len(labels)} images')
    print(f"{'block':>5} " + ''.join(f'{label:>{width}}' for label in scores))
    for i, block in enumerate(args.blocks):
        print(f'{block:>5} ' + ''.join(f'{s[i]:>{width}.4f}'
                                       for s in scores.values()))
    fig = plot_grid([[(f'{label}, block {block}', xy)
                      for block, xy in zip(args.blocks, points)]
                     for label, points in maps.items()],
                    labels.numpy(), classes)
    fig.savefig(args.out, dpi=DPI)
    print(f'Figure: {args.out}')
    return fig


if __name__ == '__main__':
    main()
