"""Write a deterministic, class-balanced subset file of a class-folder
dataset: the low-data pre-training sets and the 1 % / 10 % labelled sets.

    python tools/dataset_converters/make_subset.py data/cifar10 \\
        --fraction 0.1 --out splits/cifar10_train_10pct_seed0.txt

Each class keeps ``round(fraction * n)`` of its n images (at least 1; or
``--per-class N``), chosen by a generator seeded with ``(seed, class
index)`` (:func:`mmssl_kd.datasets.balanced_subset`). The file lists
``<class>/<image>`` paths relative to the split folder, as
``ImageFolder(subset_file=...)`` reads them. An existing file is kept
unless ``--force``.
"""
import argparse
import os
import os.path as osp

from mmssl_kd.datasets import ImageFolder, balanced_subset


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('data_root', help='dataset folder, e.g. data/cifar10')
    parser.add_argument('--split', default='train',
                        help='sub-folder holding the class folders')
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument('--fraction', type=float,
                      help='share of each class to keep, in (0, 1]')
    size.add_argument('--per-class', type=int, help='images per class')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the per-class choice')
    parser.add_argument('--out', required=True, help='subset file to write')
    parser.add_argument('--force', action='store_true',
                        help='overwrite an existing OUT')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if osp.exists(args.out) and not args.force:
        raise SystemExit(f'{args.out} exists; pass --force to overwrite it')
    dataset = ImageFolder(data_root=args.data_root, split=args.split,
                          lazy_init=True)
    samples = dataset._find_samples()
    chosen, short = balanced_subset(samples, args.seed,
                                    num_per_class=args.per_class,
                                    fraction=args.fraction)
    if short:
        print(f'{len(short)} class(es) have fewer than {args.per_class} '
              f'images (label, count): {short[:5]}; all of theirs are kept')
    if osp.dirname(args.out):
        os.makedirs(osp.dirname(args.out), exist_ok=True)
    size = (f'fraction {args.fraction}' if args.fraction is not None else
            f'{args.per_class} per class')
    with open(args.out, 'w', encoding='utf-8') as f:
        f.write(f'# {args.data_root}/{args.split}: {size}, seed {args.seed}, '
                f'{len(chosen)} of {len(samples)} images, written by '
                'tools/dataset_converters/make_subset.py\n')
        f.writelines(f'{name}\n' for name, _ in chosen)
    print(f'{args.out}: {len(chosen)} of {len(samples)} images '
          f'({len({label for _, label in chosen})} classes)')


if __name__ == '__main__':
    main()
