"""t-SNE (or UMAP) of the final features of one or more models, side by side,
coloured by class.

    python tools/visualization/tsne.py
        --model SEED CONFIG CHECKPOINT [--model MoCo CONFIG CHECKPOINT ...]
        [--part PART [PART ...]] [--split test]
        [--num-per-class 50] [--out tsne.png] [--force] [--seed 0]
        [--method tsne|umap] [--perplexity 30] [--batch-size 100]
        [--num-workers 2] [--allow-missing] [--cfg-options ...]
        [--trust-checkpoint PATH]

The features are those tools/benchmarks/knn.py evaluates, L2-normalised:
the output of the backbone of ``--part`` (``backbone``: the trained model;
``teacher``: SEED's frozen teacher or an EMA teacher; ``peer``: DoGo's or
MOKD's second model; ``peer_teacher``, SDSSL's ``target``, ...; one part
for every model, or one per ``--model`` in their order) as one
vector per image (a feature map average-pooled, a ViT's [CLS] token), of
single, un-augmented images: the pipeline of the ``query_dataloader`` of
the config's ``KNNHook`` if there is one, else ``LoadImageFromFile`` +
``PackInputs``.  The images are a class-balanced subset
(``--num-per-class`` per class, chosen with ``--seed``) of ``--split``
under the data root of the config's ``train_dataloader.dataset``; every
model gets the same images.  The figure has one panel per model, points
coloured by class, a legend of the class names; the tool prints per model
the silhouette score of the classes (cosine distance, in the feature
space, not the 2-D map: higher means better separated classes), also
shown in the panel titles.  CHECKPOINT may be ``random`` for the network
at initialisation (seeded); one whose keys are not those of its config's
model stops the tool unless ``--allow-missing``.  OUT is never overwritten
without ``--force``.
Needs scikit-learn (``pip install scikit-learn``), and umap-learn for
``--method umap`` (``pip install umap-learn``).
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
        description='t-SNE / UMAP of the final features of one or more '
        'models, coloured by class')
    add_model_comparison_arguments(parser, 'a panel of the figure',
                                   num_per_class=50)
    parser.add_argument(
        '--part', nargs='+', default=['backbone'],
        help="sub-model whose backbone gives the features: 'backbone' (the "
        "trained model, default) or a sub-model with a backbone, such as "
        "'teacher' (SEED, EMA teachers), 'peer' (DoGo, MOKD), "
        "'peer_teacher' (MOKD) or 'target' (SDSSL). One part applies to "
        'every model; give one per --model (in their order) to choose each')
    add_embedding_arguments(parser, default_out='tsne.png')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> Figure:
    args = parse_args(argv)
    if len(args.part) not in (1, len(args.model)):
        sys.exit(f'tsne.py: {len(args.part)} --part values {args.part} for '
                 f'{len(args.model)} --model: give one part for all models '
                 'or one per --model')
    parts = dict(zip([label for label, _, _ in args.model],
                     args.part * len(args.model) if len(args.part) == 1
                     else args.part))
    refuse_overwrite(args.out, args.force, 'tsne.py')
    try:
        check_packages(args.method)
        features, labels, classes = compare_features(
            args, part=list(parts.values()))
    except (ModuleNotFoundError, ValueError) as err:
        sys.exit(f'tsne.py: {err}')
    maps, scores = embed_and_score(features, labels, args.method, args.seed,
                                   args.perplexity)

    width = max([5] + [len(label) for label in scores])
    pwidth = max([4] + [len(part) for part in parts.values()])
    print(f'Silhouette score of the classes (cosine) of the L2-normalised '
          f'features: split {args.split!r}, {len(labels)} images')
    print(f"{'model':<{width}}  {'part':<{pwidth}}  {'silhouette':>10}")
    for label, (score, ) in scores.items():
        print(f'{label:<{width}}  {parts[label]:<{pwidth}}  {score:>10.4f}')
    fig = plot_grid([[(f'{label} [{parts[label]}]\nsilhouette '
                       f'{scores[label][0]:.3f}', xy)
                      for label, (xy, ) in maps.items()]],
                    labels.numpy(), classes, panel_size=4.0)
    method = 't-SNE' if args.method == 'tsne' else 'UMAP'
    fig.suptitle(f"{method} of the features: split {args.split!r}, "
                 f"{len(labels)} images")
    fig.savefig(args.out, dpi=DPI)
    print(f'Figure: {args.out}')
    return fig


if __name__ == '__main__':
    main()
